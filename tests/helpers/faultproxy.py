"""A small HTTP proxy in front of the S3 server that injects network faults.

Between Lifeboat and the real S3 server process: it can answer 500s, answer slowly,
drop connections in the middle of an upload's body, refuse everything (offline), flip a
byte of a request's body (as a faulty network would, keeping its length), cut download
bodies short (keeping the headers that announce their full length), show the server's
ETags as something other than MD5s (as SSE-KMS or some services do), and hold or trickle
uploads to some keys until the test lets them go (an upload that surely still runs while
the test acts, however loaded the machine). A body its client gave up on half-way is
never passed on.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import http.server
import re
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

_ETAG_XML = re.compile(rb"<ETag>(.*?)</ETag>")


@dataclass
class Faults:
    error_every: int = 0  # answer every Nth request with HTTP 500
    drop_every: int = 0  # drop every Nth request that has a body, halfway through it
    delay: float = 0.0  # seconds before answering each request
    offline: bool = False  # close every connection at once
    corrupt_every: int = 0  # flip one byte in the body of every Nth request with a body
    truncate_responses: bool = False  # GET bodies cut in half; headers say the full length
    opaque_etags: bool = False  # the client sees ETags that are not MD5s (mapped back)
    hold: str = ""  # requests with a body whose path holds this wait until it is cleared
    trickle: str = ""  # bodies of requests whose path holds this are read 4 KiB at a time,
    # 20 times a second, while it is set (the client keeps sending, and can stop); every
    # connection is closed after its answer meanwhile

    def reset(self) -> None:
        self.error_every = self.drop_every = self.corrupt_every = 0
        self.delay = 0.0
        self.offline = self.truncate_responses = self.opaque_etags = False
        self.hold = self.trickle = ""


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.faults = Faults()
        self.requests = 0
        self.bodies = 0  # requests that had a body
        self.injected = {
            "error": 0,
            "drop": 0,
            "offline": 0,
            "corrupt": 0,
            "truncate": 0,
            "held": 0,
            "trickled": 0,
        }
        self._opaque: dict[bytes, bytes] = {}  # ETag shown -> the server's
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
        self.faults.hold = self.faults.trickle = ""
        self.server.shutdown()
        self.server.server_close()

    def handle(self, req: http.server.BaseHTTPRequestHandler) -> None:
        length = int(req.headers.get("Content-Length", 0) or 0)
        with self._lock:
            self.requests += 1
            number = self.requests
            if length:
                self.bodies += 1
            with_body = self.bodies
        faults = self.faults
        if faults.hold and length and faults.hold in req.path:
            self._count("held")
            deadline = time.monotonic() + 300
            while faults.hold and faults.hold in req.path and time.monotonic() < deadline:
                time.sleep(0.01)
        if faults.offline:
            self._count("offline")
            self._drop(req)
            return
        if faults.drop_every and length and number % faults.drop_every == 0:
            req.rfile.read(length // 2)
            self._count("drop")
            self._drop(req)
            return
        body = self._read_body(req, length)
        if body is None:  # the client went away in the middle of it
            self._drop(req)
            return
        if faults.corrupt_every and body and with_body % faults.corrupt_every == 0:
            flipped = bytearray(body)
            flipped[len(flipped) // 2] ^= 0x01
            body = bytes(flipped)
            self._count("corrupt")
        if faults.delay:
            time.sleep(faults.delay)
        if faults.error_every and number % faults.error_every == 0:
            self._count("error")
            payload = (
                b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError'
                b"</Code><Message>injected</Message></Error>"
            )
            req.send_response(500)
            req.send_header("Content-Type", "application/xml")
            req.send_header("Content-Length", str(len(payload)))
            req.end_headers()
            req.wfile.write(payload)
            return
        headers = {
            k: v
            for k, v in req.headers.items()
            if k.lower() not in ("connection", "content-length")
        }
        if body and self._opaque:
            body = _ETAG_XML.sub(self._server_etag, body)
            headers["Content-Length"] = str(len(body))
        upstream = http.client.HTTPConnection(
            self.upstream.hostname, self.upstream.port, timeout=120
        )
        upstream.request(req.command, req.path, body=body, headers=headers)
        reply = upstream.getresponse()
        data = reply.read()
        if faults.opaque_etags:
            data = _ETAG_XML.sub(
                lambda m: b"<ETag>" + self._shown_etag(m.group(1)) + b"</ETag>", data
            )
        req.send_response(reply.status, reply.reason)
        for key, value in reply.getheaders():
            if key.lower() in ("transfer-encoding", "connection", "content-length"):
                continue
            if key.lower() == "etag" and faults.opaque_etags:
                value = self._shown_etag(value.encode()).decode()
            req.send_header(key, value)
        # A HEAD reply has no body but tells the length of the object.
        length_header = reply.getheader("Content-Length") if req.command == "HEAD" else None
        req.send_header("Content-Length", length_header or str(len(data)))
        if faults.trickle:
            # Each request on a new connection: one that carried a fast upload before has
            # grown kernel buffers that would swallow a whole trickled body at once (the
            # client then waits for the answer instead of sending, and cannot stop).
            req.send_header("Connection", "close")
        req.end_headers()
        if req.command == "GET" and faults.truncate_responses and len(data) > 1:
            self._count("truncate")
            req.wfile.write(data[: len(data) // 2])
            self._drop(req)
        elif req.command != "HEAD":
            req.wfile.write(data)
        upstream.close()

    def _read_body(self, req: http.server.BaseHTTPRequestHandler, length: int) -> bytes | None:
        """The request's body, trickled while `faults.trickle` names it; None if the client
        closed the connection before sending all of it."""
        chunks: list[bytes] = []
        got = 0
        counted = False
        while got < length:
            slow = bool(self.faults.trickle) and self.faults.trickle in req.path
            if slow and not counted:
                self._count("trickled")
                counted = True
            try:
                chunk = req.rfile.read(min(4096, length - got) if slow else length - got)
            except OSError:
                return None
            if not chunk:
                return None
            chunks.append(chunk)
            got += len(chunk)
            if slow:
                time.sleep(0.05)
        return b"".join(chunks)

    def _shown_etag(self, etag: bytes) -> bytes:
        """The server's ETag as a value that is not an MD5 (40 hex digits), the same
        each time, so HEAD, LIST and part replies agree as on a real server."""
        quoted = etag.startswith((b'"', b"&quot;"))
        bare = etag.replace(b"&quot;", b"").strip(b'"')
        shown = hashlib.sha1(b"opaque:" + bare).hexdigest().encode()
        with self._lock:
            self._opaque[shown] = bare
        return b'"' + shown + b'"' if quoted else shown

    def _server_etag(self, match: re.Match[bytes]) -> bytes:
        """An ETag the client sends back (completing a multipart upload) as the server
        wrote it, if it is one this proxy showed differently."""
        shown = match.group(1).replace(b"&quot;", b"").strip(b'"')
        with self._lock:
            original = self._opaque.get(shown)
        if original is None:
            return match.group(0)
        return match.group(0).replace(shown, original)

    def _count(self, kind: str) -> None:
        with self._lock:
            self.injected[kind] += 1

    @staticmethod
    def _drop(req: http.server.BaseHTTPRequestHandler) -> None:
        req.close_connection = True
        with contextlib.suppress(OSError):
            req.connection.shutdown(socket.SHUT_RDWR)
