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
    compiled by XLA for a model of `layers` <= MAX_LAYERS layers when running it on `probe` works,
    called with its tensors as they are (`flat_call`)."""
    return flat_call(_xla_or_plain(build, probe, layers))


def _xla_or_plain(build: Callable[[bool], Callable], probe: Sequence, layers: int):
    if layers <= MAX_LAYERS:
        try:
            function = build(True).get_concrete_function()
            function(*probe)
            return function
        except (tf.errors.OpError, ValueError, TypeError, NotImplementedError) as exc:
            log.info("XLA does not compile this function (%s); using the plain graph", str(exc).splitlines()[0][:200])
    return build(False).get_concrete_function()


class flat_call:  # noqa: N801 (used like the function it wraps)
    """A concrete function called with its inputs as the flat list of tensors they are.

    `ConcreteFunction.__call__` binds its arguments to the signature again on every call, a fifth
    of a small model's Grad-CAM pass (0.54 -> 0.44 ms). `_call_flat` is TensorFlow's own next step,
    private but unchanged through the 2.x versions this project allows; where it is missing, the
    public call. Anything else (`function_def`, ...) is the concrete function's."""

    def __init__(self, function) -> None:
        self.concrete = function
        self._call_flat = getattr(function, "_call_flat", None)
        self._captured = function.captured_inputs

    def __call__(self, *tensors):
        if self._call_flat is None:
            return self.concrete(*tensors)
        return self._call_flat(list(tensors), self._captured)

    def __getattr__(self, name: str):
        return getattr(self.concrete, name)
