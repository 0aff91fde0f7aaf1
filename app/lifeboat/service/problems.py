"""Each database's one current problem, in words: what the tray, the main window, the
scheduler's notices and the webhook all go by.

Pure functions of a source's status (service/status.py) and the time: no I/O. A source
has at most one problem at a time, the most serious one (DAMAGED first); what is worth
knowing but is no problem yet (a retry on its way, an upload that failed once, damaged
snapshots kept) is a note.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from lifeboat.foundation.states import Health
from lifeboat.service.status import SourceStatus

#: Most serious first: the order in which a source's problems hide one another.
SEVERITY = (
    Health.DAMAGED,
    Health.FAILED,
    Health.STALE,
    Health.CAPTURE_STOPPED,
    Health.REMOTE_UNREACHABLE,
    Health.DRILL_FAILED,
)
#: The words a backup's error starts its verdict with when SQLite proved the LIVE file
#: damaged (core/sqlite_file.py, core/dbcopy.py, core/snapshot.py): only then.
_LIVE_DAMAGE = (' is damaged: SQLite reports "', " fails SQLite's integrity check (")


@dataclass(frozen=True)
class SourceProblem:
    source: str
    kind: Health
    #: One line in the GUI's words: what is wrong, and for a failure, what failed and why.
    reason: str

    @property
    def level(self) -> str:
        """error (red) | warning (amber)."""
        return "error" if self.kind in (Health.DAMAGED, Health.FAILED) else "warning"


def is_live_damage(error: str | None) -> bool:
    """Whether a backup's error is SQLite's proof that the database itself is damaged
    (not a locked, missing or unreadable file, nor a damaged snapshot)."""
    return error is not None and any(words in error for words in _LIVE_DAMAGE)


def problem_of(source: SourceStatus, now: datetime) -> SourceProblem | None:
    """The source's one current problem (None: it has none)."""
    for kind in SEVERITY:
        reason = _reason(source, kind, now)
        if reason is not None:
            return SourceProblem(source.name, kind, reason)
    return None


def problems_of(sources: list[SourceStatus], now: datetime) -> dict[str, SourceProblem]:
    """Each source's current problem, for the sources that have one."""
    found = (problem_of(s, now) for s in sources)
    return {p.source: p for p in found if p is not None}


def notes_of(source: SourceStatus) -> list[str]:
    """What is worth a line but is no problem (yet): a retry on its way, an upload that
    failed and will be tried again, snapshots found damaged or missing."""
    notes = []
    if source.retry_kind == "upload" and source.last_upload_result == "failed":
        notes.append(f"Upload to {source.remote} failed; it will be tried again")
    elif source.retry_kind is not None and source.last_result != "failed":
        notes.append(f"The {source.retry_kind} will be tried again")
    if source.damaged:
        notes.append(f"{_count(source.damaged, 'damaged snapshot')} kept (see History)")
    if source.missing_files:
        notes.append(f"{_count(source.missing_files, 'snapshot file')} missing (see History)")
    return notes


def _reason(source: SourceStatus, kind: Health, now: datetime) -> str | None:
    failed = source.last_result == "failed"
    if kind is Health.DAMAGED:
        if failed and is_live_damage(source.last_error):
            return f"The database file is damaged{_sqlite_says(source.last_error)}"
        return None
    if kind is Health.FAILED:
        return f"Backup failed: {_sentence(source.last_error, source.name)}" if failed else None
    if kind is Health.STALE:
        if not source.stale:
            return None
        last = source.last_backup
        if last is None:
            return "Overdue: never backed up"
        return f"Overdue: the last good backup is {age_text(now - last)} old"
    if kind is Health.CAPTURE_STOPPED:
        if source.continuous and source.capture_stopped:
            why = _sentence(source.capture_stopped)
            return f"Continuous capture of {source.name} stopped: {why}"
        if source.continuous and source.history_not_compacted:
            why = _sentence(source.history_not_compacted)
            return f"Continuous history of {source.name} is not compacted: {why}"
        return None
    if kind is Health.REMOTE_UNREACHABLE:
        return _upload_reason(source)
    if source.drill_passed is False:
        return f"Restore drill failed: {_sentence(source.drill_detail)}"
    return None


def _upload_reason(source: SourceStatus) -> str | None:
    """Uploads count as failing once snapshots waited a day, or the last upload failed
    and no retry is on its way (until then a failed upload is a note)."""
    given_up = (
        source.last_upload_result == "failed"
        and source.uploads_pending > 0
        and source.retry_kind != "upload"
    )
    if source.history_upload_failed and not (source.remote_behind or given_up):
        why = _sentence(source.history_upload_failed)
        return f"Continuous history not sent to {source.remote}: {why} (kept on this computer)"
    if not (source.remote_behind or given_up):
        return None
    waiting = f"{_count(source.uploads_pending, 'backup')} waiting; kept on this computer"
    if source.last_upload_error:
        why = _sentence(source.last_upload_error)
        return f"Upload to {source.remote} failed: {why} ({waiting})"
    return f"Not uploaded to {source.remote} for over a day ({waiting})"


def _sqlite_says(error: str | None) -> str:
    """': SQLite reports "database disk image is malformed"' from the error, if it says."""
    if error and 'SQLite reports "' in error:
        quoted = error.split('SQLite reports "', 1)[1].split('"', 1)[0]
        return f' (SQLite reports "{quoted}")'
    if error and "integrity check" in error:
        return " (it fails SQLite's integrity check)"
    return ""


def _sentence(text: str | None, source: str = "") -> str:
    """An error as the end of a line: its first line, without a trailing full stop or the
    source's name in front (the line already names it)."""
    if not text:
        return "no reason was recorded"
    line = text.strip().splitlines()[0].rstrip(".")
    return line.removeprefix(f"{source}: ") if source else line


def age_text(span: timedelta) -> str:
    """'3 days', '5 hours', '40 minutes' (the largest unit that fits)."""
    seconds = max(0, int(span.total_seconds()))
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            return _count(seconds // size, unit)
    return "less than a minute"


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
