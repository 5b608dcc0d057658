"""`GET /metrics`: what a deployment can watch, in Prometheus's text format (prometheus-client).

Requests and their latencies are counted by `RequestMetrics` (a small ASGI middleware, by route
template so model ids do not multiply the series); the rest is read from the app's state when
scraped: long-job slots in use, jobs refused (503) and stopped because their client went away,
open live connections, compiled functions per model, and the filter cache's bytes on disk.
Each app has its own registry (no global state).
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

router = APIRouter(tags=["health"])


class StateCollector:
    """Gauges and counters read from the app's state at scrape time."""

    def __init__(self, app) -> None:
        self.app = app

    def collect(self):
        state = self.app.state
        jobs = getattr(state, "long_jobs", None)
        if jobs is not None:
            yield GaugeMetricFamily("convnet_vis_long_jobs_running", "long-job slots in use", value=jobs.running)
            yield GaugeMetricFamily("convnet_vis_long_jobs_slots", "long-job slots per process", value=jobs.max_jobs)
            yield GaugeMetricFamily("convnet_vis_long_jobs_refused", "long jobs refused with 503 since start-up", value=jobs.refused)
            yield GaugeMetricFamily("convnet_vis_long_jobs_abandoned", "long jobs stopped because their client went away", value=jobs.abandoned)
        yield GaugeMetricFamily("convnet_vis_live_connections", "open live-channel connections", value=getattr(state, "live_connections", 0))
        registry = getattr(state, "registry", None)
        if registry is not None:
            functions = GaugeMetricFamily("convnet_vis_compiled_functions", "compiled functions held per model", labels=["model"])
            built = GaugeMetricFamily(
                "convnet_vis_compiled_functions_built", "compiled functions built per model since start-up (a first request that builds one shows here)", labels=["model"]
            )
            for served in registry:
                functions.add_metric([served.id], len(served.graph.functions))
                built.add_metric([served.id], served.graph.functions.built)
            yield functions
            yield built
        warm_up = getattr(state, "warm_up", None)
        if warm_up is not None:
            yield GaugeMetricFamily("convnet_vis_warm_up_models_done", "models whose background warm-up is done (app/warm.py)", value=warm_up.models_done)
            yield GaugeMetricFamily("convnet_vis_warm_up_functions_built", "functions the background warm-up built", value=warm_up.functions_built)
            yield GaugeMetricFamily("convnet_vis_warm_up_routes_prepared", "API routes whose request handlers the warm-up built", value=warm_up.routes_prepared)
        patterns = getattr(state, "filter_patterns", None)
        if patterns is not None:
            yield GaugeMetricFamily("convnet_vis_filter_cache_bytes", "filter-pattern cache on disk", value=patterns.cache.disk_bytes())


class RequestMetrics:
    """ASGI middleware: HTTP requests by method, route template and status, and their seconds."""

    def __init__(self, app, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter("convnet_vis_requests", "HTTP requests answered", ["method", "route", "status"], registry=registry)
        self.latency = Histogram("convnet_vis_request_seconds", "HTTP request time to the response's start", ["route"], registry=registry)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = {"code": 500}

        async def sending(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                self.latency.labels(_route(scope)).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.requests.labels(scope["method"], _route(scope), str(status["code"])).inc()


def _route(scope) -> str:
    """The matched route's template (the router writes it into the scope), not the path itself."""
    route = scope.get("route")
    return getattr(route, "path", None) or "other"


def install(app) -> None:
    registry = app.state.metrics_registry = CollectorRegistry()
    registry.register(StateCollector(app))
    app.add_middleware(RequestMetrics, registry=registry)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)
