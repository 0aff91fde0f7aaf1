"""Waiting for a condition instead of for a fixed time.

A test that sleeps a fixed time and then looks fails on a slow or loaded machine (the
thing had not happened yet) and wastes time on a fast one. `wait_until` polls the
condition itself; its timeout is generous because it only matters when something is
really wrong, never for how fast a machine is.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Long enough for any loaded runner; reached only when the awaited thing never happens.
GENEROUS_S = 120.0


def wait_until(
    condition: Callable[[], T],
    what: str,
    *,
    timeout: float = GENEROUS_S,
    interval: float = 0.05,
    process: subprocess.Popen[str] | subprocess.Popen[bytes] | None = None,
) -> T:
    """Poll `condition` until it returns something true and return that; fail saying
    `what` was awaited if `timeout` passes, or at once if `process` ended meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process ended (exit {process.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s for {what}")
        time.sleep(interval)
