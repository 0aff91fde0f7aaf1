"""Per-source hook commands run before and after a backup (so an app can checkpoint or
pause). No shell unless asked, a timeout, and output and exit status recorded."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from lifeboat.foundation.progress import CancelToken

_KEEP_OUTPUT = 4000


@dataclass(frozen=True)
class HookResult:
    name: str
    command: str
    exit_code: int | None  # None: it did not finish in time, or could not start
    output: str
    seconds: float
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def summary(self) -> str:
        if self.problem:
            return f"{self.name} hook {self.problem}"
        last = self.output.strip().splitlines()[-1:] or [""]
        tail = f": {last[0][:200]}" if last[0] else ""
        return f"{self.name} hook exited with status {self.exit_code}{tail}"

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "command": self.command,
            "exit_code": self.exit_code,
            "output": self.output,
            "seconds": round(self.seconds, 3),
            "problem": self.problem,
        }


def run_hook(
    name: str,
    command: str | list[str],
    *,
    shell: bool,
    timeout: float,
    env: dict[str, str],
    cancel: CancelToken | None = None,
) -> HookResult:
    """Run one hook; never raises for the command's own failures (see HookResult).

    Cancelling stops the command (its whole process group) and raises Cancelled.
    """
    shown = command if isinstance(command, str) else shlex.join(command)
    if shell:
        argv: str | list[str] = shown
    else:
        argv = shlex.split(command) if isinstance(command, str) else list(command)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            shell=shell,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **env},
            start_new_session=True,
        )
    except OSError as exc:
        return HookResult(
            name,
            shown,
            None,
            "",
            time.monotonic() - started,
            f"could not start: {exc.strerror or exc}",
        )
    deadline = started + timeout
    while True:
        try:
            out, _ = proc.communicate(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            if cancel is not None and cancel.cancelled:
                _kill_group(proc)
                proc.communicate()
                cancel.check()
            if time.monotonic() > deadline:
                _kill_group(proc)
                out, _ = proc.communicate()
                return HookResult(
                    name,
                    shown,
                    None,
                    _tail(out),
                    time.monotonic() - started,
                    f"did not finish within {timeout:g} s and was stopped",
                )
    return HookResult(name, shown, proc.returncode, _tail(out), time.monotonic() - started)


def _tail(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")[-_KEEP_OUTPUT:]


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        if sys.platform == "win32":  # pragma: no cover
            proc.kill()
        else:
            os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
