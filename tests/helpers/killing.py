"""kill -9 in the middle of a command's work, however fast or loaded the machine is.

A kill moment drawn from one run's measured duration lands mostly in Python's start-up on
a fast machine (before Lifeboat does anything: 17 of 24 kills did in one measurement) and
after the end on a slow one, so a count of kills that landed depends on the machine's
load. Here each round waits until the process has started its *run* (its lock file under
`<home>/run/runs/` names its pid: start-up is over and the work begins), then kills it at
a random moment within the time the work took. A round whose process finished before its
moment still counts as a round (the caller checks what it left) but not as a kill, and the
next moments are drawn within that faster run's time, so the kills keep landing mid-work.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.helpers.waiting import wait_until

#: How many rounds may finish before their kill, per kill asked for, before the
#: helper gives up (it shrinks its moments after each, so this is never near).
MAX_ROUNDS_PER_KILL = 3


def _lock_names(home: Path) -> set[str]:
    try:
        return {n for n in os.listdir(home / "run" / "runs") if n.endswith(".lock")}
    except FileNotFoundError:
        return set()


def _run_of(home: Path, pid: int, known: set[str]) -> bool:
    """True once `pid` holds a run lock that was not there before it started."""
    for name in _lock_names(home) - known:
        try:
            if (home / "run" / "runs" / name).read_text().strip() == str(pid):
                return True
        except OSError:  # swept meanwhile: an ended run's, not ours
            continue
    return False


def _run_once(
    home: Path, command: Sequence[str], env: dict[str, str], moment: float | None
) -> tuple[float | None, float | None]:
    """Start `command`, wait until its work began, then let it run to its end (`moment`
    None) or kill it `moment` seconds into its work if it still runs then. Return how long
    its work ran (None if it ended without starting a run) and the moment it was killed
    (None if it was not). A run that was not killed must have succeeded."""
    known = _lock_names(home)
    with tempfile.TemporaryFile() as err:  # a pipe nobody reads could stall it
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            wait_until(
                lambda: _run_of(home, proc.pid, known) or proc.poll() is not None,
                f"`lifeboat {' '.join(command[3:])}` to start its work",
                interval=0.001,
            )
            began = time.monotonic() if proc.poll() is None else None
            killed = None
            if began is not None and moment is not None:
                try:
                    proc.wait(timeout=max(0.0, began + moment - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    # (it may have ended on its own just before: then it was not killed)
                    if proc.wait(timeout=600) == -signal.SIGKILL:
                        killed = moment
            proc.wait(timeout=600)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        ran = time.monotonic() - began if began is not None else None
        if killed is None:
            err.seek(0)
            assert proc.returncode == 0, err.read().decode(errors="replace")
    return ran, killed


def time_work(home: Path, command: Sequence[str], env: dict[str, str]) -> float:
    """Run `command` once to its end (it must succeed); return how long its work took,
    from the start of its run to its exit."""
    ran, _ = _run_once(home, command, env, None)
    assert ran is not None, "the command did its work without starting a run"
    return ran


def kill_during_work(
    home: Path,
    command: Sequence[str],
    env: dict[str, str],
    *,
    kills: int,
    work_s: float,
    seed: int,
    before_each: Callable[[], None] | None = None,
    after_each: Callable[[bool], None] | None = None,
) -> list[float]:
    """Run `command` until it was killed with SIGKILL `kills` times in the middle of its
    work, each at a random moment within `work_s` (from `time_work`) after its run
    began. `before_each()` prepares each round, `after_each(killed)` checks what it left.
    Returns the moments (seconds into the work) at which the kills landed."""
    rng = random.Random(seed)
    moments: list[float] = []
    rounds = 0
    while len(moments) < kills:
        rounds += 1
        assert rounds <= MAX_ROUNDS_PER_KILL * kills, (
            f"{rounds - 1} rounds, {len(moments)} killed: the runs kept finishing first"
        )
        if before_each is not None:
            before_each()
        ran, killed = _run_once(home, command, env, rng.uniform(0.0, 1.0) * work_s)
        if killed is not None:
            moments.append(killed)
        elif ran is not None:  # this run's work was quicker: aim within its time from now on
            work_s = min(work_s, ran)
        if after_each is not None:
            after_each(killed is not None)
    print(f"{kills} kills in {rounds} rounds, at {', '.join(f'{m:.2f}' for m in moments)} s")
    return moments
