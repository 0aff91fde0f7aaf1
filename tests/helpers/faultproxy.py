"""A small HTTP proxy in front of the S3 server that injects network faults.

Between Lifeboat and the real S3 server process: it can answer 500s, answer slowly,
drop connections in the middle of an upload's body, or refuse everything (offline).
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class Faults:
    error_every: int = 0  # answer every Nth request with HTTP 500
    drop_every: int = 0  # drop every Nth request that has a body, halfway through it
    delay: float = 0.0  # seconds before answering each request
    offline: bool = False  # close every connection at once

    def reset(self) -> None:
        self.error_every = self.drop_every = 0
        self.delay = 0.0
        self.offline = False


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.faults = Faults()
        self.requests = 0
        self.injected = {"error": 0, "drop": 0, "offline": 0}
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                proxy.handle(self)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _serve

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, req: http.server.BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.requests += 1
            number = self.requests
        faults = self.faults
        length = int(req.headers.get("Content-Length", 0) or 0)
        if faults.offline:
            self._count("offline")
            self._drop(req)
            return
        if faults.drop_every and length and number % faults.drop_every == 0:
            req.rfile.read(length // 2)
            self._count("drop")
            self._drop(req)
            return
        body = req.rfile.read(length) if length else b""
        if faults.delay:
            time.sleep(faults.delay)
        if faults.error_every and number % faults.error_every == 0:
            self._count("error")
            payload = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError'
                       b"</Code><Message>injected</Message></Error>")
            req.send_response(500)
            req.send_header("Content-Type", "application/xml")
            req.send_header("Content-Length", str(len(payload)))
            req.end_headers()
            req.wfile.write(payload)
            return
        upstream = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port,
                                              timeout=120)
        headers = {k: v for k, v in req.headers.items() if k.lower() != "connection"}
        upstream.request(req.command, req.path, body=body, headers=headers)
        reply = upstream.getresponse()
        data = reply.read()
        req.send_response(reply.status, reply.reason)
        for key, value in reply.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                req.send_header(key, value)
        # A HEAD reply has no body but tells the length of the object.
        length = reply.getheader("Content-Length") if req.command == "HEAD" else None
        req.send_header("Content-Length", length or str(len(data)))
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(data)
        upstream.close()

    def _count(self, kind: str) -> None:
        with self._lock:
            self.injected[kind] += 1

    @staticmethod
    def _drop(req: http.server.BaseHTTPRequestHandler) -> None:
        req.close_connection = True
        with contextlib.suppress(OSError):
            req.connection.shutdown(socket.SHUT_RDWR)
