"""uvicorn's WebSocket protocol (websockets, sans-I/O), answering handshakes it refuses.

websockets refuses a handshake whose request line or a header is over 8 KB with 414 or 431,
but uvicorn 0.54 never writes that answer to the socket, so the client waits forever. This
subclass writes it and closes the connection. `python -m app serve` uses it (`ws=` below); a
plain `uvicorn app.main:app` does not (pass `--ws app.ws_protocol:WebSocketProtocol`).
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

IMPORT_PATH = "app.ws_protocol:WebSocketProtocol"


class WebSocketProtocol(WebSocketsSansIOProtocol):
    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self.handshake_initiated and self.conn.handshake_exc is not None:
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.transport.close()
