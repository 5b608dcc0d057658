"""The interactive API reference at `/docs`: FastAPI's Swagger UI page with its assets served by
this server (`static/vendor/swagger-ui`, see its README) instead of a CDN, so it works on a
network without internet access, under a Content-Security-Policy that admits only them.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from app.security import docs_policy

ASSETS = "/static/vendor/swagger-ui"


def add_docs(app: FastAPI) -> None:
    """Serve `/docs`; build the app with `docs_url=None, redoc_url=None` (ReDoc needs a CDN)."""

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        page = get_swagger_ui_html(
            openapi_url=root + app.openapi_url,
            title=f"{app.title}: API reference",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon-32x32.png",
            # Off: the validator badge is an image from validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )
        html = page.body.decode()
        # FastAPI starts Swagger UI with one inline script: allow exactly that one, by its hash.
        script = re.findall(r"<script>(.*?)</script>", html, re.S)[-1]
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        return HTMLResponse(html, headers={"content-security-policy": docs_policy(f"sha256-{digest}")})
