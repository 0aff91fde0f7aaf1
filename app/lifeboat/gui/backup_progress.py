"""What a "Back up now" is doing, as plain data: one bar across all its steps.

A backup reports each phase from 0 to 100% (copy, then compress or compare, then upload
and read back, each a job or a phase of its own), so showing the phase's share makes the
bar jump back (61% → 5%). `backup_fraction` maps a phase's progress onto one scale whose
total is the sum of the steps' weights, and `ManualBackups` follows the events of each
backup the user asked for: which jobs are its own, how far it got (never backwards), and
how it ended, in words. No Qt here: the window (gui/backup_window.py) shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from lifeboat.core.unchanged import unchanged_since_time
from lifeboat.foundation.events import Event, JobFinished, JobProgress, JobQueued, JobStarted
from lifeboat.gui.wording import in_gui_words

#: The steps of a backup in order: (the phases that report it, its weight). Copying and
#: packing read and write the whole database; the check runs alongside the packing.
BACKUP_STEPS: tuple[tuple[frozenset[str], int], ...] = (
    (frozenset({"rebuild"}), 0),  # preparing a base: rare, short, reported but not weighed
    (frozenset({"copy"}), 35),
    (frozenset({"compress", "compare"}), 45),
    (frozenset({"upload"}), 16),
    (frozenset({"read back"}), 4),
)
UPLOAD_PHASES = frozenset({"upload", "read back"})

#: How long a finished backup waits for the upload that follows it before counting as done
#: (the pipeline starts it at once; this only covers an upload that never started).
UPLOAD_GRACE_S = 20.0

PHASE_WORDS = {
    "rebuild": "Preparing",
    "copy": "Copying the database",
    "compress": "Compressing the copy",
    "compare": "Finding what changed",
    "upload": "Uploading",
    "read back": "Checking the upload",
}


def backup_fraction(phase: str, done: int, total: int, *, uploads: bool) -> float | None:
    """How far a backup is (0..1) when `phase` is at done/total; None for a phase that is
    not one of its steps (keep showing what was shown)."""
    steps = [s for s in BACKUP_STEPS if uploads or not (s[0] & UPLOAD_PHASES)]
    whole = sum(weight for _, weight in steps)
    before = 0
    for phases, weight in steps:
        if phase in phases:
            share = min(max(done / total, 0.0), 1.0) if total > 0 else 0.0
            return (before + weight * share) / whole
        before += weight
    return None


class Stage(StrEnum):
    WAITING = "waiting"  # asked; no job started yet
    RUNNING = "running"
    FINISHING = "finishing"  # the snapshot is stored; its upload follows
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def over(self) -> bool:
        return self in (Stage.DONE, Stage.FAILED, Stage.CANCELLED)


@dataclass
class ManualBackup:
    """One database's "Back up now", from the click to its end."""

    source: str
    uploads_to: str | None  # the remote its snapshot is uploaded to, if any
    stage: Stage = Stage.WAITING
    fraction: float = 0.0
    phase: str = ""
    job_id: int | None = None  # the job running now (the backup, then its upload)
    message: str = ""  # how it ended, in words
    cancel_asked: bool = False
    finishing_since: float | None = None
    job_ids: set[int] = field(default_factory=set)

    def text(self) -> str:
        """The line under the bar."""
        if self.stage.over:
            return self.message
        if self.cancel_asked:
            return "Cancelling…"
        if self.stage is Stage.WAITING:
            return "Waiting to start…"
        words = PHASE_WORDS.get(self.phase, "Backing up")
        if self.phase == "upload" and self.uploads_to:
            words = f"Uploading to {self.uploads_to}"
        return f"{words}… {int(self.fraction * 100)}%"

    def advance(self, phase: str, done: int, total: int) -> None:
        fraction = backup_fraction(phase, done, total, uploads=self.uploads_to is not None)
        if fraction is None:
            self.phase = phase  # a phase outside the steps: named, the bar stays
        elif fraction >= self.fraction:  # never backwards, not even for a late report
            self.phase, self.fraction = phase, fraction


class ManualBackups:
    """The backups the user started by hand, followed through the events."""

    def __init__(self) -> None:
        self.backups: dict[str, ManualBackup] = {}

    def start(self, source: str, uploads_to: str | None) -> ManualBackup:
        backup = ManualBackup(source, uploads_to)
        self.backups[source] = backup
        return backup

    def active(self, source: str) -> ManualBackup | None:
        backup = self.backups.get(source)
        return backup if backup is not None and not backup.stage.over else None

    def attach(self, source: str, job_id: int) -> None:
        """A backup of the source already queued or running is the one to follow."""
        backup = self.active(source)
        if backup is not None and backup.job_id is None:
            backup.job_id = job_id
            backup.job_ids.add(job_id)

    def on_event(self, event: Event, now: float) -> ManualBackup | None:
        """Apply an event (arrived at `now`, monotonic seconds); the backup it changed."""
        source = getattr(event, "source", None)
        backup = self.active(source) if source else None
        if backup is None:
            return None
        if isinstance(event, JobQueued | JobStarted):
            return self._job_began(backup, event)
        if isinstance(event, JobProgress):
            if event.job_id not in backup.job_ids:
                return None
            backup.stage = Stage.RUNNING
            backup.advance(event.phase, event.done, event.total)
            return backup
        if isinstance(event, JobFinished) and event.job_id in backup.job_ids:
            self._job_ended(backup, event)
            if backup.stage is Stage.FINISHING:
                backup.finishing_since = now
            return backup
        return None

    def settle(self, now: float) -> list[ManualBackup]:
        """Backups stored long enough ago whose upload never started: done."""
        settled = []
        for backup in self.backups.values():
            since = backup.finishing_since
            if (
                backup.stage is Stage.FINISHING
                and since is not None
                and now - since >= UPLOAD_GRACE_S
            ):
                self._end(backup, Stage.DONE, "Backed up.")
                settled.append(backup)
        return settled

    def _job_began(
        self, backup: ManualBackup, event: JobQueued | JobStarted
    ) -> ManualBackup | None:
        wanted = "upload" if backup.stage is Stage.FINISHING else "backup"
        if event.kind != wanted:
            return None
        backup.job_id = event.job_id
        backup.job_ids.add(event.job_id)
        if isinstance(event, JobStarted):
            backup.stage = Stage.RUNNING
            if wanted == "upload":
                backup.advance("upload", 0, 1)
        return backup

    def _job_ended(self, backup: ManualBackup, event: JobFinished) -> None:
        error = in_gui_words(event.error or "") or "no reason was given"
        if event.kind == "upload":
            if event.status == "ok":
                self._end(backup, Stage.DONE, f"Backed up and uploaded to {backup.uploads_to}.")
            elif event.status == "cancelled":
                self._end(backup, Stage.CANCELLED, "Backed up here; the upload was cancelled.")
            else:
                self._end(
                    backup,
                    Stage.FAILED,
                    f"Backed up here, but the upload failed: {error}. It will be retried.",
                )
            return
        if event.status == "ok" and backup.uploads_to is not None and event.snapshot_id:
            backup.stage = Stage.FINISHING
            backup.job_id = None
            backup.advance("copy", 1, 1)
            backup.advance("compress", 1, 1)
            return
        if event.status == "ok" and event.unchanged_since is not None:
            when = unchanged_since_time(event.error)
            since = f"the backup of {when}" if when else "the last backup"
            self._end(backup, Stage.DONE, f"Nothing changed since {since}; nothing new was stored.")
        elif event.status == "ok":
            self._end(backup, Stage.DONE, "Backed up.")
        elif event.status == "skipped":
            self._end(backup, Stage.DONE, "Nothing to do: " + (event.error or "up to date."))
        elif event.status == "cancelled":
            self._end(backup, Stage.CANCELLED, "Cancelled: nothing was stored.")
        else:
            self._end(backup, Stage.FAILED, f"The backup failed: {error}")

    def _end(self, backup: ManualBackup, stage: Stage, message: str) -> None:
        backup.stage = stage
        backup.message = message
        backup.job_id = None
        if stage is Stage.DONE:
            backup.fraction = 1.0
