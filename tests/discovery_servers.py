"""Real servers on loopback for the discovery tests: an HTTP key-value store and a DNS server.

Both run in a background thread, answer only on 127.0.0.1, and are stopped (thread joined,
socket closed) by their context managers.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from dnslib import QTYPE, RCODE, RR, DNSRecord


class KeyValueServer(ThreadingHTTPServer):
    """GET/PUT/POST ``/kv/<key...>``: the body (or a trailing ``/value/<v>``) is the value.

    ``fail_with`` makes every request answer that HTTP status instead.
    """

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _KeyValueHandler)
        self.values: dict[str, str] = {}
        self.writes: list[tuple[str, str, str]] = []
        self.fail_with: int | None = None
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _KeyValueHandler(BaseHTTPRequestHandler):
    server: KeyValueServer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read the server's state instead."""

    def _key_and_value(self) -> tuple[str, str | None]:
        path = unquote(self.path)
        key, sep, value = path.partition("/value/")
        return key, (value if sep else None)

    def _answer(self, status: int, body: bytes = b"") -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self) -> None:
        if self.server.fail_with is not None:
            self._answer(self.server.fail_with)
            return
        key, _ = self._key_and_value()
        with self.server.lock:
            value = self.server.values.get(key)
        if value is None:
            self._answer(404)
        else:
            self._answer(200, value.encode())

    def _write(self) -> None:
        if self.server.fail_with is not None:
            self._answer(self.server.fail_with)
            return
        key, value = self._key_and_value()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        with self.server.lock:
            self.server.values[key] = value if value is not None else body
            self.server.writes.append((self.command, key, self.server.values[key]))
        self._answer(204)

    do_PUT = _write
    do_POST = _write


@contextmanager
def key_value_server() -> Iterator[KeyValueServer]:
    server = KeyValueServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


class DnsServer:
    """Answers UDP queries from a zone given as text lines (``name TTL CLASS TYPE data``).

    Names it knows answer their records of the asked type (none: NOERROR, empty answer);
    unknown names answer NXDOMAIN.
    """

    def __init__(self, zone: str) -> None:
        self.records = RR.fromZone(zone)
        self.queries: list[tuple[str, str]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve)

    @property
    def address(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"{host}:{port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, source = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            try:
                request = DNSRecord.parse(data)
            except Exception:
                continue
            question = request.q
            name = str(question.qname).lower()
            kind = QTYPE[question.qtype]
            self.queries.append((name, kind))
            reply = request.reply()
            known = [rr for rr in self.records if str(rr.rname).lower() == name]
            if not known:
                reply.header.rcode = RCODE.NXDOMAIN
            for rr in known:
                if rr.rtype == question.qtype:
                    reply.add_answer(rr)
            self._sock.sendto(reply.pack(), source)

    def __enter__(self) -> DnsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()
