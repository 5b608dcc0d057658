"""The ASGI app: `uvicorn app.main:app` serves the bundled models."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from app.api import analysis, dataset, explain, filters, lessons, live, metrics, models, read
from app.cache import ArrayCache
from app.config import PROJECT_ROOT, Settings
from app.docs import add_docs
from app.errors import register_error_handlers
from app.executors import Executors
from app.jobs import SHUTTING_DOWN, JobLimiter
from app.reference import ReferenceStore
from app.registry import ModelRegistry
from app.warm import WarmUp
from app.security import SecurityMiddleware, page_policy
from app.services.dataset import DatasetViews
from app.services.filters import FilterPatterns
from app.shutdown import GracefulShutdown

log = logging.getLogger("convnet_vis")


def _configure_logging() -> None:
    """uvicorn configures only its own loggers; ours must reach the console too (skipped models)."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def create_app(settings: Settings | None = None, registry: ModelRegistry | None = None) -> FastAPI:
    """Models load in the lifespan, not at import, so tests can build apps on their own folders."""
    settings = settings or Settings()
    _configure_logging()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.registry = registry if registry is not None else ModelRegistry.from_settings(settings)
        log.info("serving %d model(s) from %s", len(app.state.registry), settings.models_dir)
        shipped = [served.id for served in app.state.registry if app.state.dataset_views.load_shipped(served)]
        log.info("reference maps shipped ready: %s", ", ".join(shipped) or "none")
        long_jobs = app.state.long_jobs = JobLimiter(settings.max_long_jobs)
        executors = app.state.executors = Executors(settings.max_decodes, settings.inline_budget_ms / 1000)
        app.state.live_batcher = live.batcher_for(settings)
        shutdown = GracefulShutdown(
            settings.shutdown_grace_seconds,
            on_expiry=[long_jobs.stop, lambda: executors.abandon(SHUTTING_DOWN)],
        )
        shutdown.install()
        warm_up = app.state.warm_up = WarmUp(app.state.registry, settings.background_warm_up, routes=app.router.routes)
        warm_up.start()
        try:
            yield
        finally:
            warm_up.stop()
            shutdown.uninstall()
            executors.shutdown()
            long_jobs.shutdown()

    app = FastAPI(
        title="convnet-vis",
        version="0.1.0",
        description="See inside convolutional networks: activations, explanations and filter patterns. "
        "Reference: docs/api.md.",
        lifespan=lifespan,
        docs_url=None,  # app.docs serves it without a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.filter_patterns = FilterPatterns(ArrayCache(settings.cache_dir / "filters", max_bytes=settings.cache_max_bytes))
    app.state.dataset_views = DatasetViews(ReferenceStore(), ArrayCache(settings.cache_dir / "dataset"))
    metrics.install(app)
    app.add_middleware(SecurityMiddleware, allowed_hosts=settings.allowed_hosts, allowed_origins=settings.allowed_origins)
    register_error_handlers(app)
    # Routes are matched in order: the explanations first, as a drawing's Grad-CAM is the answer
    # most often asked for over HTTP (30 us of matching saved); the paths do not overlap.
    app.include_router(explain.router)
    app.include_router(models.router)
    app.include_router(analysis.router)
    app.include_router(read.router)
    app.include_router(live.router)
    app.include_router(filters.router)
    app.include_router(dataset.router)
    app.include_router(lessons.router)
    app.include_router(metrics.router)

    app.mount("/static", StaticFiles(directory=PROJECT_ROOT / "static"), name="static")
    templates = Jinja2Templates(directory=PROJECT_ROOT / "templates")

    add_docs(app)

    @app.get("/sw.js", include_in_schema=False)
    def service_worker():
        """The page's service worker, served from the root so that it may keep the page itself
        (static/js/sw.js: a reload works offline)."""
        return FileResponse(PROJECT_ROOT / "static" / "js" / "sw.js", media_type="text/javascript", headers={"cache-control": "no-cache"})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(request: Request):
        policy = page_policy(request.headers.get("host"))
        return templates.TemplateResponse(request, "index.html", {}, headers={"content-security-policy": policy})

    return app


app = create_app()
