"""Domain errors, each mapped to one HTTP status in one place.

    VisualizerError            (base; never raised itself)
    +-- NotFound          404  unknown model, layer or filter index
    +-- PayloadTooLarge   413  upload bytes or decoded pixels over the limit
    +-- UnsupportedImage  415  a body that is not a decodable image of a supported format
    +-- InvalidOption     422  an option or pixel array that cannot be used
    +-- Busy              503  too many long jobs at once, or shutting down; comes with Retry-After
    +-- NotReady          503  no model is served (GET /api/ready)
    +-- ClientGone        499  the client closed the connection before the long job ended (nobody reads it)
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = [
    "VisualizerError",
    "NotFound",
    "PayloadTooLarge",
    "UnsupportedImage",
    "InvalidOption",
    "Busy",
    "NotReady",
    "ClientGone",
    "register_error_handlers",
]


class VisualizerError(Exception):
    status_code = 400
    headers: dict[str, str] | None = None

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(VisualizerError):
    status_code = 404


class PayloadTooLarge(VisualizerError):
    status_code = 413


class UnsupportedImage(VisualizerError):
    status_code = 415


class InvalidOption(VisualizerError):
    status_code = 422


class Busy(VisualizerError):
    status_code = 503

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after)}


class NotReady(VisualizerError):
    status_code = 503


class ClientGone(VisualizerError):
    status_code = 499  # nginx's "client closed request": logged, never read


def _describe_validation_error(error: dict) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    message = error.get("msg", "invalid value")
    if "input" in error and not isinstance(error["input"], (dict, list)):
        return f"{where}: {message} (got {error['input']!r})"
    return f"{where}: {message}"


def register_error_handlers(app: FastAPI) -> None:
    """Every error leaves as `{"detail": "<what is wrong and what to do>"}`."""

    @app.exception_handler(VisualizerError)
    async def _domain(_: Request, exc: VisualizerError) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        detail = "; ".join(_describe_validation_error(e) for e in errors) or "invalid request"
        return JSONResponse(
            {"detail": f"Invalid request: {detail}. See /docs for the allowed values."},
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = "No such endpoint. The API reference is at /docs."
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)
