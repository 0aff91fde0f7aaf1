"""What the tray shows: each source's status, kept current.

The status (service.status(): config and catalog) is read in the thread pool, after
events (a job started or ended, settings changed) and once a minute for the "12 min
ago" texts; while another process schedules (a `lifeboat run` daemon) every few
seconds, since its events do not reach us. Progress of running jobs comes from events.
New health notices in the catalog (failed, stale, recovered: written by whichever
process schedules) come out as `health` signals for the notifications.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from PySide6.QtCore import QObject, QTimer, Signal

from lifeboat.foundation.events import (
    Event,
    JobFinished,
    JobProgress,
    JobQueued,
    JobStarted,
    SourceHealth,
)
from lifeboat.gui.text import percent, time_ago
from lifeboat.gui.workers import run_in_background
from lifeboat.service import Service
from lifeboat.service.status import SourceStatus, Status

IDLE_REFRESH_MS = 60_000
WATCHING_REFRESH_MS = 5_000
EVENT_REFRESH_MS = 300

_DOING = {
    "backup": "backing up",
    "restore": "restoring",
    "verify": "verifying",
    "upload": "uploading",
    "drill": "running a restore drill",
    "prune": "pruning",
}


@dataclass
class JobActivity:
    job_id: int
    kind: str
    source: str | None
    running: bool = False
    phase: str = ""
    done: int = 0
    total: int = 0


class LiveStatus(QObject):
    changed = Signal()
    #: (source, failed | stale | remote-unreachable | recovered, message): a new health
    #: notice.
    health = Signal(str, str, str)

    def __init__(self, service: Service, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.status: Status | None = None
        self.read_at: datetime | None = None
        self.activity: dict[int, JobActivity] = {}
        self.paused = False
        self.watching_pid: int | None = None  # a daemon schedules; we only watch
        self._last_event_id: int | None = None
        self._busy = False
        self._again = False
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(IDLE_REFRESH_MS)
        self._soon = QTimer(self)
        self._soon.setSingleShot(True)
        self._soon.timeout.connect(self.refresh)

    # -- keeping it current ----------------------------------------------------------

    def set_watching(self, pid: int | None) -> None:
        self.watching_pid = pid
        self._timer.setInterval(WATCHING_REFRESH_MS if pid else IDLE_REFRESH_MS)
        self.changed.emit()

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self.changed.emit()

    def refresh(self) -> None:
        """Read the status again (in the background; calls while one runs coalesce)."""
        if self._busy:
            self._again = True
            return
        self._busy = True
        run_in_background(
            self._read,
            what="read the status",
            on_done=self._read_done,
            on_failed=self._read_failed,
            owner=self,
        )

    def refresh_soon(self) -> None:
        if not self._soon.isActive():
            self._soon.start(EVENT_REFRESH_MS)

    def on_event(self, event: Event) -> None:
        if isinstance(event, JobQueued):
            self.activity[event.job_id] = JobActivity(event.job_id, event.kind, event.source)
        elif isinstance(event, JobStarted):
            self.activity[event.job_id] = JobActivity(
                event.job_id, event.kind, event.source, running=True
            )
        elif isinstance(event, JobProgress):
            job = self.activity.get(event.job_id)
            if job is None:
                return
            job.running, job.phase, job.done, job.total = (
                True,
                event.phase,
                event.done,
                event.total,
            )
            self.changed.emit()
            return
        elif isinstance(event, JobFinished):
            self.activity.pop(event.job_id, None)
        elif not isinstance(event, SourceHealth):
            return
        self.changed.emit()
        self.refresh_soon()

    def _read(self) -> tuple[datetime, Status, list[dict[str, object]]]:
        now = datetime.now(UTC)
        status = self.service.status(now)
        return now, status, self.service.events(limit=50)

    def _read_done(self, result: tuple[datetime, Status, list[dict[str, object]]]) -> None:
        self.read_at, self.status, events = result
        self._busy = False
        self._notice_health(events)
        self.changed.emit()
        if self._again:
            self._again = False
            self.refresh()

    def _read_failed(self, _exc: BaseException) -> None:
        self._busy = False  # logged by the worker; the next refresh tries again

    def _notice_health(self, events: list[dict[str, object]]) -> None:
        newest = max((int(str(e["id"])) for e in events), default=0)
        if self._last_event_id is None:  # the first read: old notices were seen before
            self._last_event_id = newest
            return
        fresh = [e for e in events if int(str(e["id"])) > self._last_event_id]
        self._last_event_id = max(newest, self._last_event_id)
        for event in sorted(fresh, key=lambda e: int(str(e["id"]))):
            kind = str(event.get("kind") or "")
            if kind.startswith("health:") and event.get("source"):
                self.health.emit(
                    str(event["source"]), kind.removeprefix("health:"), str(event["message"])
                )

    # -- what to show ----------------------------------------------------------------

    @property
    def sources(self) -> list[SourceStatus]:
        return self.status.sources if self.status else []

    def now(self) -> datetime:
        return datetime.now(UTC)

    def jobs_of(self, source: str) -> list[JobActivity]:
        return [job for job in self.activity.values() if job.source == source]

    def is_busy(self, source: str, kind: str = "backup") -> bool:
        return any(j.kind == kind for j in self.jobs_of(source)) or any(
            s.name == source and s.running for s in self.sources if kind == "backup"
        )

    def state(self) -> str:
        """ok | running | warning | error, for the icon."""
        state = self.status.state if self.status else "ok"
        if state == "ok" and any(j.running for j in self.activity.values()):
            return "running"
        return state

    def source_state(self, source: SourceStatus) -> str:
        if source.state == "ok" and any(j.running for j in self.jobs_of(source.name)):
            return "running"
        return source.state

    def source_line(self, source: SourceStatus) -> str:
        """'notes — 12 min ago', 'notes — backing up… 45%', 'notes — failed 3 min ago'."""
        return f"{source.name} — {self.source_detail(source)}"

    def source_detail(self, source: SourceStatus) -> str:
        now = self.now()
        for job in self.jobs_of(source.name):
            doing = _DOING.get(job.kind, job.kind)
            if job.running:
                share = f" {percent(job.done, job.total)}%" if job.total else ""
                return f"{doing}…{share}"
            return f"{doing}: waiting"
        if source.running:
            return "backing up…"
        last = time_ago(source.last_snapshot, now)
        if source.last_result == "failed":
            text = (
                f"backup failed (last good one {last})" if source.last_snapshot else "backup failed"
            )
        elif source.last_snapshot is None:
            text = "not backed up yet"
        else:
            text = last
        if source.stale and source.last_result != "failed":
            text += " (overdue)"
        if source.retry_pending:
            text += ", retry pending"
        if source.remote_behind:
            text += f", not uploaded to {source.remote}"
        if source.drill_passed is False:
            text += ", restore drill failed"
        if source.damaged:
            text += f", {source.damaged} damaged snapshot(s) kept"
        if source.missing_files:
            text += f", {source.missing_files} snapshot file(s) missing"
        return text

    def summary(self) -> str:
        """One line for the whole: the tooltip's and main window's headline."""
        if self.status is None:
            return "Reading the status…"
        if not self.sources:
            return "No databases to back up yet"
        state = self.state()
        failed = [s.name for s in self.sources if s.state == "error"]
        stale = [s.name for s in self.sources if s.stale and s.state != "error"]
        behind = sorted({str(s.remote) for s in self.sources if s.remote_behind})
        if state == "error":
            return "Backup failed: " + ", ".join(failed)
        if state == "warning":
            if stale:
                return "Overdue: " + ", ".join(stale)
            if behind:
                return "Cannot upload to " + ", ".join(behind)
            drills = [s.name for s in self.sources if s.drill_passed is False]
            if drills:
                return "Restore drill failed: " + ", ".join(drills)
            damaged = [s.name for s in self.sources if s.damaged or s.missing_files]
            if damaged:
                return "Damaged or missing snapshots: " + ", ".join(damaged)
            return "A backup will be retried"
        if state == "running":
            return "Backing up…"
        never = [s.name for s in self.sources if s.last_snapshot is None]
        if never:
            return "Not backed up yet: " + ", ".join(never)
        return "All databases are backed up"

    def drill_line(self, source: SourceStatus) -> str:
        """The last restore drill: "notes: drill passed 3 days ago"."""
        verdict = "passed" if source.drill_passed else "FAILED"
        return f"{source.name}: drill {verdict} {time_ago(source.last_drill, self.now())}"

    def tooltip(self) -> str:
        lines = ["Lifeboat — " + self.summary()]
        lines += [self.source_line(s) for s in self.sources]
        lines += [self.drill_line(s) for s in self.sources if s.last_drill is not None]
        if self.watching_pid:
            lines.append(f"Schedules run in `lifeboat run` (pid {self.watching_pid})")
        elif self.paused:
            lines.append("Schedules paused")
        return "\n".join(lines)
