"""Compiled functions made once per model and key, shared by every request thread.

A method that needs its own `tf.function` (a gradient through one layer, a gradient-ascent step)
defines a key class for it and builds the function on first use; keys are typed, so two methods
can never collide on a string.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class FunctionKey:
    """Subclass per kind of function; fields say what the function is specialised on."""


class CompiledFunctions:
    def __init__(self) -> None:
        self._functions: dict[FunctionKey, Callable] = {}
        self._lock = threading.Lock()

    def get(self, key: FunctionKey, build: Callable[[], Callable]) -> Callable:
        function = self._functions.get(key)
        if function is None:
            with self._lock:
                function = self._functions.get(key)
                if function is None:
                    function = self._functions[key] = build()
        return function

    def __contains__(self, key: FunctionKey) -> bool:
        return key in self._functions
