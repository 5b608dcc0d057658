"""Compiled functions through XLA where XLA compiles them, plain graph functions where it does not.

A small model spends most of a call dispatching its ops one by one; XLA fuses them into a few
kernels (a Grad-CAM pass on the course convnet: 0.88 -> 0.45 ms), and on VGG16 it is no slower.
XLA is used for models of at most `MAX_LAYERS` layers only: compiling grows with the graph
(the keras.applications at test sizes took 2.4x as long to test with it) while the gain is in
dispatch, which big convolutions dwarf. Some ops have no XLA kernel and XLA compiles on the first
call, not when tracing, so the XLA function is run once on a probe input, falling back if that fails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import tensorflow as tf

log = logging.getLogger("convnet_vis.xla")


MAX_LAYERS = 32  # the course's MNIST and cats-vs-dogs nets and VGG16 (22) are under it; ResNet50 (176) is not


def concrete_function(build: Callable[[bool], Callable], probe: Sequence, layers: int) -> Callable:
    """`build(jit_compile)` -> a `tf.function` with an input signature; its concrete function,
    compiled by XLA for a model of `layers` <= MAX_LAYERS layers when running it on `probe` works."""
    if layers > MAX_LAYERS:
        return build(False).get_concrete_function()
    try:
        function = build(True).get_concrete_function()
        function(*probe)
        return function
    except (tf.errors.OpError, ValueError, TypeError, NotImplementedError) as exc:
        log.info("XLA does not compile this function (%s); using the plain graph", str(exc).splitlines()[0][:200])
    return build(False).get_concrete_function()
