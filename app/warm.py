"""Background warm-up: the functions a model's first requests would otherwise compile, built after
readiness so that no first request waits for them.

At load (`registry.serve_model`) only what the first drawing needs is traced: the full forward
pass, the probabilities, the default layer's gradients and the input gradients. The page's
overview (every layer's maps reduced to `OVERVIEW_MAX_SIDE`, 1.4-5.7 s to compile on the zoo) and
the long methods' functions (Score-CAM's layer pass and the batched probabilities that Score-CAM,
RISE, occlusion and the faithfulness curves share, about a second) are built here, in one daemon
thread started once the app is ready: one model at a time, one function at a time, a pause between
builds, at the lowest CPU priority the system gives a thread. Requests never wait for it: a
request for a function being built waits for that function only (`CompiledFunctions.get` locks per
key), one for a function built or not yet started builds or runs it at once. The state is in
`GET /api/ready` (`warm_up`) and in `/metrics`.

Before the models, it prepares the API's routes: FastAPI (0.165) builds an included router's
request handlers (every endpoint's dependencies and pydantic adapters, about 20-25 ms per router)
on the first request that reaches that router, so the page's first overview, the first request to
the analysis router, paid it: VGG16's overview 2.6x its warm time and the small `operations`
model's 4.4x (`bench.cold_start`), with every compiled function already built.

`CONVNET_VIS_BACKGROUND_WARM_UP=0` turns it off (functions and routes are then built on first use).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import numpy as np

from app.graph import ModelGraph

log = logging.getLogger("convnet_vis.warm")

OVERVIEW_MAX_SIDE = 16  # static/js/overview.js OVERVIEW_OPTIONS.max_side
PAUSE_SECONDS = 0.05  # between two builds: lets waiting request threads take the GIL first


def tasks(graph: ModelGraph) -> list[tuple[str, Callable[[], None]]]:
    """What one model's warm-up builds, in order, each as (name, build and run once)."""
    from app.viz import activations

    one = np.zeros((1, *graph.input_shape), np.float32)
    batch = np.zeros((4, *graph.input_shape), np.float32)  # thin_conv.MIN_BATCH: the batched graph
    work = [("overview", lambda: activations.forward(graph, one, OVERVIEW_MAX_SIDE))]
    work.append(("batched probabilities", lambda: graph.probabilities(batch)))
    layer = graph.layers.default_gradcam_layer
    if layer is not None:
        work.append(("score-cam layer pass", lambda: graph.layer_output(layer, one)))
    return work


def prepare_routes(routes) -> int:
    """Build the request handlers of every included router now (FastAPI builds them on the first
    request to the router, under its own lock); returns how many routes were prepared. A FastAPI
    that builds them when routers are included has nothing to do here (0)."""
    prepared = 0
    for route in routes:
        candidates = getattr(route, "effective_candidates", None)
        if not callable(candidates):
            continue
        low_priority = getattr(route, "effective_low_priority_routes", None)
        if callable(low_priority):
            low_priority()
        built = candidates()
        prepared += prepare_routes(built) + sum(1 for r in built if not callable(getattr(r, "effective_candidates", None)))
    return prepared


def _lower_priority() -> None:
    """This thread only (Linux: a thread's nice value is its own)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass


class WarmUp:
    def __init__(self, registry, enabled: bool = True, routes=()) -> None:
        self.registry = registry
        self.enabled = enabled
        self.routes = routes  # the app's (`prepare_routes`)
        self.routes_prepared = 0
        self.state = "off" if not enabled else "pending"
        self.models_done = 0
        self.functions_built = 0
        self.seconds = 0.0
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self.enabled or self._thread is not None:
            return
        self.state = "running"
        self._thread = threading.Thread(target=self._run, name="convnet-vis-warm-up", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.state in ("done", "off", "stopped")

    def _run(self) -> None:
        _lower_priority()
        started = time.perf_counter()
        try:
            self.routes_prepared = prepare_routes(self.routes)
        except Exception as exc:  # an optimisation: the first request builds its router's handlers itself
            self.failed.append("routes")
            log.info("warm-up of the routes failed: %s", exc)
        for served in list(self.registry):
            for name, build in tasks(served.graph):
                if self._stop.wait(PAUSE_SECONDS):
                    self.state = "stopped"
                    return
                try:
                    build()
                    self.functions_built += 1
                except Exception as exc:  # an optimisation: the request builds it (and reports) itself
                    self.failed.append(f"{served.id}: {name}")
                    log.info("warm-up of %s (%s) failed: %s", served.id, name, str(exc).splitlines()[0][:200] if str(exc) else exc)
            self.models_done += 1
        self.seconds = time.perf_counter() - started
        self.state = "done"
        log.info("warm-up done: %d functions of %d model(s) in %.1f s", self.functions_built, self.models_done, self.seconds)

    def report(self) -> dict:
        return {"state": self.state, "models_done": self.models_done, "functions_built": self.functions_built,
                "routes_prepared": self.routes_prepared,
                "seconds": round(self.seconds, 3), "failed": list(self.failed)}
