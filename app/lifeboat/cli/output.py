"""How the CLI talks: JSON or text on stdout, errors and progress on stderr."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, TextIO

from lifeboat.foundation.progress import Progress, ProgressThrottle, no_progress
from lifeboat.foundation.units import format_bytes


class Output:
    def __init__(
        self, json_mode: bool, out: TextIO | None = None, err: TextIO | None = None
    ) -> None:
        self.json_mode = json_mode
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def json(self, data: Any) -> None:
        self.out.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")

    def line(self, text: str = "") -> None:
        if not self.json_mode:
            self.out.write(text + "\n")

    def result(self, data: Any, text: str | Sequence[str]) -> None:
        """Print `data` as JSON in --json mode, else the text line(s)."""
        if self.json_mode:
            self.json(data)
            return
        for line in [text] if isinstance(text, str) else text:
            self.out.write(line + "\n")

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        widths = [max(map(len, column)) for column in zip(headers, *rows, strict=True)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths).format
        # One write: on a terminal (line-buffered) or unbuffered, a write per line was
        # a system call per line, 10,000 of them for a long list.
        lines = [fmt(*headers).rstrip(), *(fmt(*row).rstrip() for row in rows)]
        self.out.write("\n".join(lines) + "\n")

    def warn(self, text: str) -> None:
        self.err.write(f"warning: {text}\n")

    def error(self, message: str, hint: str | None, exit_code: int) -> None:
        if self.json_mode:
            self.json({"error": message, "hint": hint, "exit_code": exit_code})
        self.err.write(f"error: {message}\n")
        if hint:
            self.err.write(f"hint: {hint}\n")

    def progress(self) -> Progress:
        """A progress bar on a terminal; nothing with --json or when not a tty."""
        if self.json_mode or not self.err.isatty():
            return no_progress
        return ProgressBar(self.err)

    @contextlib.contextmanager
    def progress_bar(self) -> Iterator[Progress]:
        """`progress()` for a `with` block: the bar is closed however the block ends."""
        bar = self.progress()
        try:
            yield bar
        finally:
            if isinstance(bar, ProgressBar):
                bar.close()

    def confirm(self, question: str) -> bool:
        if not sys.stdin.isatty():
            return False
        self.err.write(f"{question} [y/N] ")
        self.err.flush()
        answer = sys.stdin.readline().strip().lower()
        return answer in ("y", "yes")

    def confirmed(self, question: str, refused: str, hint: str) -> bool:
        """Ask; if the answer is not yes (or there is no terminal to ask on), say what
        was left as it was and how to go ahead (the caller then exits with 2)."""
        if self.confirm(question):
            return True
        self.error(f"not confirmed; {refused}", hint, 2)
        return False


_STEP_WIDTH = 90  # a step's line covers what a bar's line wrote before it


class ProgressBar:
    """One self-overwriting status line: phase, bar, bytes, rate (10 updates a second)."""

    WIDTH = 28

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self.throttle = ProgressThrottle()
        self.phase = ""
        self.drawn = False

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.throttle.passes(phase, done, total):
            return
        now = time.monotonic()
        if phase != self.phase:
            self.phase, self.started = phase, now
        if total <= 1:  # a step, not bytes (e.g. a merge's "safety snapshot")
            line = f"\r{phase} …".ljust(_STEP_WIDTH)
        else:
            fraction = min(done / total, 1.0)
            filled = int(fraction * self.WIDTH)
            rate = done / max(now - self.started, 1e-3)
            line = (
                f"\r{phase:<11} [{'#' * filled}{'.' * (self.WIDTH - filled)}] "
                f"{fraction * 100:5.1f}%  {format_bytes(done)} / {format_bytes(total)}  "
                f"{format_bytes(rate)}/s "
            )
        self.stream.write(line)
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\r" + " " * 90 + "\r")
            self.stream.flush()


def local_time(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    # time.localtime, not astimezone().strftime: the same text at a third of the cost,
    # which counts in a list of 10,000 snapshots.
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment.timestamp()))


def human_age(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return "in the future"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"
