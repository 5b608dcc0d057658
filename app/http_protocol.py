"""uvicorn's HTTP/1.1 protocol (h11) with the limits a connection needs on an open network.

`python -m app serve` runs this class (`http=` below). uvicorn's default, httptools, bounds none
of these: an unfinished 100 MB request head cost about 96 MiB and the connection stayed open, and
1.2 M pipelined requests written without reading were all parsed into a queue (RSS +1.6 GB),
because httptools parses a whole read at once and uvicorn resumes reading after each answer.
h11 parses one request at a time and stops reading until it is answered; on top of it this class:

- **head size**: a head (request line and headers) over `max_head_bytes`, finished or not, is
  answered 431 (414 if the request line alone is over) and the connection closed. h11 limits an
  unfinished head itself (uvicorn answered that with a generic 400); a finished one is measured here.
- **head time**: a head must be complete within `head_timeout_seconds` of the moment the
  connection could send it (opened, or its previous answer sent); past it the connection is
  answered 408 (closed quietly if nothing of a head came) and closed. uvicorn had no such timer:
  its keep-alive timer stops at the first byte, so one byte every few seconds held a connection.
- **pipelined bytes**: requests sent ahead of their answers wait in h11's buffer; past
  `max_head_bytes` of them the connection is not read from until they are answered (uvicorn
  resumed reading each time the application read a body or asked whether its client was still
  there). A client that writes without reading fills its own socket buffers and waits.

A plain `uvicorn app.main:app` keeps uvicorn's defaults (pass `--http app.http_protocol:LimitedH11Protocol`).
"""

from __future__ import annotations

import functools
import json
import logging
from http import HTTPStatus

import h11
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.h11_impl import H11Protocol

from app.config import Settings

IMPORT_PATH = "app.http_protocol:LimitedH11Protocol"
log = logging.getLogger("convnet_vis.http")


@functools.cache
def _limits() -> tuple[int, float]:
    """(max head bytes, head timeout seconds), read once per worker process."""
    settings = Settings()
    return settings.max_head_bytes, settings.head_timeout_seconds


class _Connection(h11.Connection):
    """h11's connection, refusing a head over its size limit with the status it deserves.

    h11 limits only the unfinished part of a head (`max_incomplete_event_size`): a head that came
    whole in one read (up to 256 KiB) passed. A complete head over the limit is refused here too.
    `refusal` keeps the status (uvicorn answers every protocol error with a generic 400)."""

    refusal: int | None = None

    def next_event(self):
        limit = self._max_incomplete_event_size
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as error:
            if error.error_status_hint == 431:
                self.refusal = 431 if b"\r\n" in self.trailing_data[0] else 414
            raise
        if isinstance(event, h11.Request):
            line = len(event.method) + len(event.target) + 11  # "M T HTTP/1.1\r\n"
            if line + sum(len(name) + len(value) + 4 for name, value in event.headers.raw_items()) + 2 > limit:
                self.refusal = 414 if line > limit else 431
                raise h11.RemoteProtocolError("request head too large", error_status_hint=self.refusal)
        return event


class _GatedFlow(FlowControl):
    """uvicorn's flow control, except that reading stays paused while `may_read()` is false."""

    def __init__(self, transport, may_read) -> None:
        super().__init__(transport)
        self.may_read = may_read

    def resume_reading(self) -> None:
        if self.may_read():
            super().resume_reading()


class LimitedH11Protocol(H11Protocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_head_bytes, self.head_timeout = _limits()
        self.conn = _Connection(h11.SERVER, max_incomplete_event_size=self.max_head_bytes)
        self.head_timer = None

    # ------------------------------------------------------------------ the connection's life
    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.flow = _GatedFlow(transport, self._may_read)
        self._watch_head()

    def connection_lost(self, exc) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is h11.IDLE and self.flow.read_paused and self._may_read():
            self.flow.resume_reading()  # waiting for a head: nothing else would resume reading
        self._watch_head()

    # --------------------------------------------------------------------- pipelined requests
    def _buffered(self) -> int:
        return len(self.conn.trailing_data[0])

    def _may_read(self) -> bool:
        return self._buffered() <= self.max_head_bytes

    # ------------------------------------------------------------------------- head size
    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to any protocol error; a head over the limit gets its own."""
        if self.conn.refusal == 414:
            self._refuse(414, f"The request line is over {self.max_head_bytes} bytes (CONVNET_VIS_MAX_HEAD_BYTES).")
        elif self.conn.refusal == 431:
            self._refuse(431, f"The request head is over {self.max_head_bytes} bytes (CONVNET_VIS_MAX_HEAD_BYTES).")
        else:
            super().send_400_response(msg)

    # ------------------------------------------------------------------------- head time
    def _watch_head(self) -> None:
        """The head timer runs while the connection may send a head and has not finished it."""
        waiting = self.conn.their_state is h11.IDLE and self.transport is not None and not self.transport.is_closing()
        if waiting and self.head_timer is None:
            self.head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)
        elif not waiting:
            self._stop_head_timer()

    def _stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self._buffered():
            self._refuse(408, f"The request head took over {self.head_timeout:g} s (CONVNET_VIS_HEAD_TIMEOUT_SECONDS).")
        else:
            self.transport.close()  # an idle connection: nothing to answer

    def _refuse(self, status: int, detail: str) -> None:
        """A JSON error like the application's, then close: the rest of the stream is unreadable."""
        body = json.dumps({"detail": detail}).encode()
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        log.info("%s refused: %s", self.client, detail)
        self._stop_head_timer()
        self.transport.write(head.encode() + body)
        self.transport.close()

