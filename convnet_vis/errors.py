"""The one exception the client raises for an answer the server refused.

    ConvnetVisError(Exception)   status: the HTTP status (or the live channel's error status)
                                 detail: the server's own `detail`, which names the bad value
                                         and what to do
"""

from __future__ import annotations

__all__ = ["ConvnetVisError"]


class ConvnetVisError(Exception):
    """The server's refusal, carried as is so a notebook shows why, not just a status."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
