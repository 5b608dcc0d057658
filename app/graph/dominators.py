"""The layers every path from the input to the output goes through (the output's dominators).

Grad-CAM explains one feature map. A layer inside one branch (one tower of an Inception block,
the residual branch before ResNet's add, 32 of a DenseNet block's 1,024 channels) sees only part
of what reaches the classifier; a dominator of the output sees all of it. The layer graph is a
DAG listed in topological order, so each node's immediate dominator is the nearest common
dominator of its inbound nodes (Cooper, Harvey and Kennedy 2001, "A Simple, Fast Dominance
Algorithm", in one pass since a DAG needs no iteration).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def dominator_chain(inbound: Mapping[str, Sequence[str]], source: str, target: str) -> list[str]:
    """The nodes on every path from `source` to `target`, in path order, both ends included;
    `inbound` lists each node's inputs, in a topological order of the nodes. Nodes not reached
    from `source` (constants) are ignored; [] when `target` is not reached."""
    parent: dict[str, str | None] = {source: None}  # immediate dominator
    depth = {source: 0}
    for node, inputs in inbound.items():
        reached = [name for name in inputs if name in parent]
        if node == source or not reached:
            continue
        common = reached[0]
        for other in reached[1:]:
            common = _meet(common, other, parent, depth)
        parent[node], depth[node] = common, depth[common] + 1
    if target not in parent:
        return []
    chain = [target]
    while parent[chain[-1]] is not None:
        chain.append(parent[chain[-1]])
    return chain[::-1]


def _meet(a: str, b: str, parent: dict, depth: dict) -> str:
    """The deepest common ancestor of `a` and `b` in the dominator tree."""
    while a != b:
        if depth[a] >= depth[b]:
            a = parent[a]
        else:
            b = parent[b]
    return a
