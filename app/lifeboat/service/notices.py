"""Notices are the changes of the databases' problems (service/problems.py).

Pure: what the user was told, the problems now and the time go in; the notice to show
(if any), what the user knows after it, and when to decide again come out. A change is
never dropped: what cannot be shown now (no tray icon yet, or too soon after the last
notice) stays untold and is shown with the next notice, which names every change.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from lifeboat.foundation.states import Health
from lifeboat.service.problems import SEVERITY, SourceProblem

#: Notices come at most this often; changes in between are shown together.
MIN_GAP = timedelta(seconds=30)


@dataclass(frozen=True)
class Change:
    source: str
    before: Health | None  # the problem the user was told of (None: none)
    after: SourceProblem | None  # the problem now (None: it has none any more)

    @property
    def kind(self) -> Health:
        """The problem the change is about: the new one, or the one that ended."""
        if self.after is not None:
            return self.after.kind
        assert self.before is not None
        return self.before


@dataclass(frozen=True)
class Notice:
    title: str
    text: str
    level: str  # error | warning | info
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class Decision:
    notice: Notice | None
    #: what the user knows after this decision (the next decision's `told`)
    told: dict[str, Health]
    #: changes were held back: decide again at this time
    again_at: datetime | None = None


def changes_between(
    told: Mapping[str, Health], problems: Mapping[str, SourceProblem], known: Collection[str]
) -> list[Change]:
    """The sources whose problem differs from what the user was told (in `known` order;
    a source no longer known was removed: its problem ends without a notice)."""
    found = []
    for source in known:
        before, after = told.get(source), problems.get(source)
        if before != (after.kind if after else None):
            found.append(Change(source, before, after))
    return found


def decide(
    told: Mapping[str, Health],
    problems: Mapping[str, SourceProblem],
    known: Collection[str],
    now: datetime,
    *,
    last_shown: datetime | None,
    can_show: bool = True,
    wanted: Callable[[Health], bool] = lambda _kind: True,
    min_gap: timedelta = MIN_GAP,
) -> Decision:
    """The notice to show now for the changes since `told` (see the module's doc)."""
    knows = {s: k for s, k in told.items() if s in known}
    pending = []
    for change in changes_between(knows, problems, known):
        if wanted(change.kind):
            pending.append(change)
        else:  # the user turned this kind off: it counts as told, silently
            _learn(knows, change)
    if not pending or not can_show:
        return Decision(None, knows)
    if last_shown is not None and now - last_shown < min_gap:
        return Decision(None, knows, last_shown + min_gap)
    for change in pending:
        _learn(knows, change)
    return Decision(compose(pending), knows)


def _learn(knows: dict[str, Health], change: Change) -> None:
    if change.after is None:
        knows.pop(change.source, None)
    else:
        knows[change.source] = change.after.kind


def compose(changes: list[Change]) -> Notice:
    """One notice for one change, or one that names them all."""
    if len(changes) == 1:
        title, text, level = _one(changes[0])
        return Notice(title, text, level, tuple(changes))
    worst = min(changes, key=_rank)
    problems = [c for c in changes if c.after is not None]
    if len(problems) == 1:
        title = _one(problems[0])[0]
    elif problems:
        title = f"{len(problems)} databases need attention"
    else:
        title = f"{len(changes)} databases are fine again"
    lines = [_line(c) for c in sorted(changes, key=_rank)]
    return Notice(title, "\n".join(lines), _one(worst)[2], tuple(changes))


def _rank(change: Change) -> tuple[int, int]:
    """Problems first (most serious first), then recoveries."""
    if change.after is None:
        return (1, SEVERITY.index(change.kind))
    return (0, SEVERITY.index(change.kind))


def _line(change: Change) -> str:
    if change.after is not None:
        return f"{change.source}: {change.after.reason}"
    return f"{change.source}: {recovered_line(change)}"


def recovered_line(change: Change) -> str:
    """What ended, in a few words: "backed up again", "uploads work again"."""
    return _RECOVERED_LINES[change.kind]


def _one(change: Change) -> tuple[str, str, str]:
    """(title, text, level) of a notice for one change."""
    problem, source = change.after, change.source
    if problem is None:
        title, text = _recovered(change)
        return title, text, "info"
    text = problem.reason + "."
    if problem.kind is Health.DAMAGED:
        title = f"The database {source} is damaged"
        text += (
            " No backup can be taken of it. Choose “Restore the last good snapshot…” in "
            "the Lifeboat menu: it shows what the restore changes before it does it."
        )
    elif problem.kind is Health.FAILED:
        title = f"Backup of {source} failed"
    elif problem.kind is Health.STALE:
        title = f"{source} is overdue"
    elif problem.kind is Health.REMOTE_UNREACHABLE:
        title = f"Cannot upload {source}"
        text += " Lifeboat keeps trying."
    elif problem.kind is Health.CAPTURE_STOPPED:
        title = f"Continuous protection of {source} stopped"
        text += " Lifeboat keeps trying; scheduled backups go on."
    else:
        title = f"Restore drill of {source} failed"
        text += " Your newest backups may not restore: see History."
    return title, text, problem.level


_RECOVERED_LINES = {
    Health.REMOTE_UNREACHABLE: "uploads work again",
    Health.DRILL_FAILED: "the restore drill passed",
    Health.CAPTURE_STOPPED: "continuous capture runs again",
    Health.DAMAGED: "backed up again",
    Health.FAILED: "backed up again",
    Health.STALE: "backed up again",
}


def _recovered(change: Change) -> tuple[str, str]:
    source = change.source
    if change.before is Health.REMOTE_UNREACHABLE:
        return f"Uploads of {source} work again", "The waiting backups were uploaded."
    if change.before is Health.CAPTURE_STOPPED:
        return f"{source} is protected continuously again", "Every commit is captured again."
    if change.before is Health.DRILL_FAILED:
        return f"Restore drill of {source} passed", "The newest backup restores as it should."
    return f"{source} is backed up again", "A new backup was taken and checked."
