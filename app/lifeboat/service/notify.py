"""Failure reports beyond the desktop: a JSON POST to the user's `notify_url`.

Sent from a background thread with a timeout and a few retries, so it never blocks a
job. The payload carries names, times and messages only: never a secret, and the URL
(which may hold a token) is never logged in full.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from urllib.parse import urlsplit

from lifeboat import __version__

log = logging.getLogger(__name__)


class Webhook:
    def __init__(
        self, url: str | None, *, timeout: float = 10.0, retries: int = 3, backoff: float = 2.0
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._threads: list[threading.Thread] = []

    def send(
        self, event: str, source: str | None, message: str, detail: dict[str, object] | None = None
    ) -> None:
        """Post in the background; returns at once."""
        if not self.url:
            return
        payload = {
            "event": event,
            "source": source,
            "message": message,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "app": "lifeboat",
            "version": __version__,
            "detail": detail or {},
        }
        thread = threading.Thread(
            target=self._post, args=(payload,), name="lifeboat-webhook", daemon=True
        )
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def flush(self, timeout: float = 15.0) -> None:
        """Wait for posts in flight (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _post(self, payload: dict[str, object]) -> None:
        assert self.url
        body = json.dumps(payload).encode()
        host = urlsplit(self.url).hostname
        for attempt in range(1, self.retries + 1):
            request = urllib.request.Request(
                self.url,
                data=body,
                method="POST",
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": f"lifeboat/{__version__}",
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    if response.status < 300:
                        return
                    problem = f"HTTP {response.status}"
            except urllib.error.HTTPError as exc:
                problem = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                problem = str(getattr(exc, "reason", exc))
            log.warning("webhook to %s: attempt %d failed (%s)", host, attempt, problem)
            time.sleep(self.backoff * attempt)
        log.warning("webhook to %s: giving up on %s event", host, payload["event"])
