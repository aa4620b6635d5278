"""The HTTP(S) layer: HTTP/1.1 keep-alive, one daemon thread per connection, one send per answer."""

from __future__ import annotations

import logging
import socket
import socketserver
import ssl
import threading
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from airflow_provider_lingxing.testing.simulator.gateway import Answer, Request, gateway_answer, http_date

if TYPE_CHECKING:
    from airflow_provider_lingxing.testing.simulator.service import LingxingSimulator

log = logging.getLogger(__package__)


def server_context(tls: ssl.SSLContext | None, certfile: str | None, keyfile: str | None) -> ssl.SSLContext | None:
    """The TLS context to serve with: the one given, one loaded from PEM files, or None (plain HTTP)."""
    if tls is not None and (certfile or keyfile):
        raise ValueError("pass either tls (an ssl.SSLContext) or certfile/keyfile, not both")
    if keyfile and not certfile:
        raise ValueError("keyfile needs a certfile (the certificate it belongs to)")
    if tls is not None:
        if not isinstance(tls, ssl.SSLContext):
            raise ValueError(f"tls must be an ssl.SSLContext, got {type(tls).__name__}")
        return tls
    if not certfile:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as error:
        raise ValueError(f"cannot serve HTTPS with certfile {certfile!r} and keyfile {keyfile!r}: {error}") from None
    return context


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, simulator: LingxingSimulator, host: str, port: int, tls: ssl.SSLContext | None) -> None:
        self.simulator = simulator
        self.tls = tls
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    def server_bind(self) -> None:
        """Skip HTTPServer's reverse DNS lookup of the address (slow or hanging in a sandbox)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def get_request(self) -> tuple[socket.socket, Any]:
        """With TLS, the handshake is left to the connection's own thread, so a slow client cannot stall accept."""
        connection, address = super().get_request()
        if self.tls is not None:
            connection = self.tls.wrap_socket(connection, server_side=True, do_handshake_on_connect=False)
        return connection, address

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("simulator connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    """Reads one request, asks the simulator, writes the answer in one send (headers and body)."""

    protocol_version = "HTTP/1.1"
    server_version = "LingxingSimulator"
    disable_nagle_algorithm = True
    timeout = 60
    server: SimulatorServer

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        super().finish()

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def _serve(self, head: bool = False) -> None:
        simulator = self.server.simulator
        path, _, query_string = self._target().partition("?")
        log.debug("simulator %s %s", self.command, path)
        try:
            read = self._read_body()
            if isinstance(read, bytes):
                request = Request(
                    method=self.command,
                    path=path,
                    query=dict(reversed(parse_qsl(query_string, keep_blank_values=True))),
                    body=read,
                    content_type=self.headers.get("Content-Type", ""),
                )
                answer = simulator.handle(request)
            else:
                answer = read
                simulator.count(path, answer.code)
        except Exception:
            log.exception("simulator internal error on %s %s", self.command, path)
            simulator.count_internal_error()
            answer = gateway_answer("500", "simulator internal error", status=500, close=True)
        self._write(answer, head=head)

    def _target(self) -> str:
        """The request target as sent: the stdlib folds a leading `//`, which the real gateway answers 404."""
        words = self.requestline.split()
        return words[1] if len(words) >= 2 else self.path

    def _read_body(self) -> bytes | Answer:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return gateway_answer("411", "411 LENGTH_REQUIRED", status=411, close=True)
        raw_length = self.headers.get("Content-Length", "0").strip() or "0"
        if not raw_length.isdigit():
            return gateway_answer("400", "400 BAD_REQUEST: invalid Content-Length", status=400, close=True)
        length = int(raw_length)
        limit = self.server.simulator.config.max_body_bytes
        if length > limit:
            self._discard(min(length, 8 * limit))
            return gateway_answer("413", "413 PAYLOAD_TOO_LARGE", status=413, close=True)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            return gateway_answer("400", "400 BAD_REQUEST: body shorter than Content-Length", status=400, close=True)
        return body

    def _discard(self, length: int) -> None:
        """Read what the client is sending so it sees the 413 instead of a reset connection."""
        while length > 0:
            chunk = self.rfile.read(min(length, 2**16))
            if not chunk:
                return
            length -= len(chunk)

    def _write(self, answer: Answer, *, head: bool = False) -> None:
        if answer.drop:
            self.close_connection = True
            with suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if answer.close:
            self.close_connection = True
        reason = self.responses.get(answer.status, ("",))[0]
        lines = [
            f"HTTP/1.1 {answer.status} {reason}",
            f"Server: {self.server_version}",
            f"Date: {http_date(self.server.simulator.now())}",
            f"Content-Type: {answer.content_type}",
            f"Content-Length: {len(answer.body)}",
            f"Connection: {'close' if self.close_connection else 'keep-alive'}",
        ]
        payload = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head else answer.body)
        try:
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed requests (bad request line, unknown method, huge headers) get a JSON envelope too.

        Only the standard reason is sent: the stdlib's message quotes the request line, token and sign included.
        """
        text = f"{code} {self.responses.get(code, ('ERROR',))[0].upper().replace(' ', '_')}"
        answer = gateway_answer(str(code), text, status=code, close=True)
        path = (getattr(self, "path", "") or "(unparsed)").partition("?")[0]
        self.server.simulator.count(path, answer.code)
        self._write(answer, head=self.command == "HEAD")

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the default would log query strings, which carry access tokens and signs."""
