"""Hardening for a classroom network: which hosts are served, which pages may open the live
channel, and the headers that keep the page to itself.

- Host: with `CONVNET_VIS_ALLOWED_HOSTS` set (`vis.school.org,*.school.org,localhost`), a request
  naming any other host gets 400 (DNS rebinding). Unset: every host is served. Written here
  rather than with Starlette's TrustedHostMiddleware so the refusal is JSON with a `detail`.
- Origin: browsers send `Origin` with every WebSocket handshake, and a WebSocket is not bound by
  the same-origin policy, so any page a student opens could drive the live channel. A handshake
  is accepted when its Origin is the server's own (the host and port the `Host` header names; no
  port means the scheme's default) or listed in `CONVNET_VIS_ALLOWED_ORIGINS` (`*`: any);
  others get 403 before the socket opens. Clients that send no Origin are not browsers, and pass.
- Headers on every HTTP response: `X-Content-Type-Options: nosniff`, `Referrer-Policy:
  no-referrer`, `X-Frame-Options: DENY`, and a Content-Security-Policy: the page's and the
  docs' own (below, set by their routes), the page's scripts' (`SCRIPT_POLICY`: a worker keeps
  the policy of its own script), otherwise `default-src 'none'` (API answers are data, never
  documents). None of them may be framed (`frame-ancestors 'none'`).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

API_POLICY = "default-src 'none'; frame-ancestors 'none'"
# The page's scripts also start workers (the engine's Web Worker, the service worker), and a
# worker is bound by the policy its own script came with: they import the page's own modules and
# fetch its own API, nothing else.
SCRIPT_POLICY = "default-src 'none'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
_HOST = re.compile(r"[A-Za-z0-9.-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")
_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


def page_policy(host: str | None) -> str:
    """The page loads only its own scripts and styles (no inline code: `static/js` sets styles
    through the DOM, which CSP allows), shows data: images (the API's PNG overlays) and blob: ones
(the user's own upload shown back, as an object URL the page made), and connects
    to its own server, the live channel included (`ws:`/`wss:` spelled out for browsers older
    than CSP 3, where 'self' does not cover them)."""
    sockets = f" ws://{host} wss://{host}" if host and _HOST.fullmatch(host) else ""
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"connect-src 'self'{sockets}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def docs_policy(script_hash: str) -> str:
    """Swagger UI: its vendored bundle plus FastAPI's one inline start-up script (by its hash);
    it shows data: images and "Try it out" calls this server. No inline styles are needed
    (checked in Chromium by tests/e2e/test_docs.py, which fails on any CSP report)."""
    return (
        f"default-src 'none'; script-src 'self' '{script_hash}'; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def _split_host(host: str) -> tuple[str, int | None]:
    name, _, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
    if not name or not port.isdigit():
        return host.lower(), None
    return name.lower(), int(port)


def host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    name, _ = _split_host(host)
    for pattern in patterns:
        pattern = pattern.lower()
        if pattern == "*" or name == pattern or (pattern.startswith("*.") and name.endswith(pattern[1:])):
            return True
    return False


def origin_allowed(origin: str, host: str, allowed: tuple[str, ...]) -> bool:
    if "*" in allowed or origin.rstrip("/").lower() in {entry.rstrip("/").lower() for entry in allowed}:
        return True
    try:
        parts = urlsplit(origin)
        origin_port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return False
    name, port = _split_host(host)
    return bool(parts.hostname) and parts.hostname == name.strip("[]") and origin_port == (port or _DEFAULT_PORTS.get(parts.scheme))


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, allowed_hosts: tuple[str, ...] = (), allowed_origins: tuple[str, ...] = ()) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts
        self.allowed_origins = allowed_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if self.allowed_hosts and not host_allowed(host, self.allowed_hosts):
            detail = f"This server does not answer for host {host!r}. Use one of: {', '.join(self.allowed_hosts)}."
            await _refuse(scope, receive, send, 400, detail)
            return
        if scope["type"] == "websocket":
            origin = headers.get("origin")
            if origin is not None and not origin_allowed(origin, host, self.allowed_origins):
                detail = (
                    f"WebSocket connections from pages on {origin} are not allowed: open the page from this "
                    "server, or ask its operator to add that origin to CONVNET_VIS_ALLOWED_ORIGINS."
                )
                await _refuse(scope, receive, send, 403, detail)
                return
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers.setdefault("x-content-type-options", "nosniff")
                response_headers.setdefault("referrer-policy", "no-referrer")
                response_headers.setdefault("x-frame-options", "DENY")
                script = scope["path"].startswith("/static/js/") or scope["path"] == "/sw.js"
                response_headers.setdefault("content-security-policy", SCRIPT_POLICY if script else API_POLICY)
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    if scope["type"] == "http" or "websocket.http.response" in scope.get("extensions", {}):
        # A WebSocket handshake can be answered with an HTTP response (ASGI denial extension).
        await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
