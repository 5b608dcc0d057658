"""Compiled functions made once per model and key, shared by every request thread.

A method that needs its own `tf.function` (a gradient through one layer, a gradient-ascent step)
defines a key class for it and builds the function on first use; keys are typed, so two methods
can never collide on a string.

The store is bounded (`limit`, `CONVNET_VIS_MAX_COMPILED_FUNCTIONS`): past it, the least recently
used function is forgotten (its memory goes when the last thread using it lets go) and built again
if it is asked for again. Keys that come from options (`max_side`) are first mapped to a small
fixed set by their method (`app.viz.activations.max_side_step`), so the bound is rarely reached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_LIMIT = 128


@dataclass(frozen=True)
class FunctionKey:
    """Subclass per kind of function; fields say what the function is specialised on."""


class CompiledFunctions:
    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._functions: OrderedDict[FunctionKey, Callable] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[FunctionKey, threading.Lock] = {}  # one lock per key being built
        self.limit = limit
        self.built = 0  # functions built since start-up (a built one forgotten and asked for again counts twice)
        self.evicted = 0  # functions forgotten to stay within `limit`

    def get(self, key: FunctionKey, build: Callable[[], Callable]) -> Callable:
        function = self._lookup(key)
        if function is not None:
            return function
        with self._lock:
            building = self._building.setdefault(key, threading.Lock())
        # Built under the key's own lock: two threads never trace the same function at once, and
        # a request for a function already built never waits behind another one being built (the
        # background warm-up, app/warm.py, builds while drawings are answered).
        with building:
            function = self._lookup(key)
            if function is not None:
                return function
            function = build()
            with self._lock:
                self._functions[key] = function
                self._building.pop(key, None)
                self.built += 1
                while len(self._functions) > max(1, self.limit):
                    self._functions.popitem(last=False)
                    self.evicted += 1
            return function

    def _lookup(self, key: FunctionKey) -> Callable | None:
        with self._lock:
            function = self._functions.get(key)
            if function is not None:
                self._functions.move_to_end(key)
            return function

    def __contains__(self, key: FunctionKey) -> bool:
        return key in self._functions

    def __len__(self) -> int:
        return len(self._functions)
