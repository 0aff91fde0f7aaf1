"""What the tray shows: each source's status, kept current.

The status (service.status(): config and catalog) is read in the thread pool, after
events (a job started or ended, settings changed) and once a minute for the "12 min
ago" texts; while another process schedules (a `lifeboat run` daemon) every few
seconds, since its events do not reach us. Progress of running jobs comes from events.
Each source's one current problem (service/problems.py) and the pause (scheduling/
pause.py) are read with it; the notifications follow the problems' changes.
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
from lifeboat.foundation.states import Health
from lifeboat.gui.text import local_time, percent, time_ago, time_until
from lifeboat.gui.wording import in_gui_words
from lifeboat.gui.workers import run_in_background
from lifeboat.scheduling.pause import NOT_PAUSED, Pause, read_pause
from lifeboat.service import Service
from lifeboat.service.history_status import ago_text, continuous_line
from lifeboat.service.problems import SourceProblem, notes_of, problems_of
from lifeboat.service.status import SourceStatus, Status

IDLE_REFRESH_MS = 60_000
WATCHING_REFRESH_MS = 5_000
EVENT_REFRESH_MS = 300

_HEADLINES = {
    Health.DAMAGED: "The database {} is damaged",
    Health.FAILED: "Backup of {} failed",
    Health.STALE: "{} is overdue",
    Health.REMOTE_UNREACHABLE: "Cannot upload {}",
    Health.DRILL_FAILED: "Restore drill of {} failed",
    Health.CAPTURE_STOPPED: "Continuous protection of {} stopped",
}

_DOING = {
    "backup": "backing up",
    "restore": "restoring",
    "verify": "verifying",
    "upload": "uploading",
    "drill": "running a restore drill",
    "prune": "removing old snapshots",
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

    def __init__(self, service: Service, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.status: Status | None = None
        self.read_at: datetime | None = None
        self.activity: dict[int, JobActivity] = {}
        self.pause: Pause = NOT_PAUSED
        self.problems: dict[str, SourceProblem] = {}
        self.watching_pid: int | None = None  # a daemon schedules; we only watch
        self._busy = False
        self._again = False
        self._stopped = False
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

    def set_paused(self, _paused: bool) -> None:
        """The scheduler paused or resumed: read the pause again."""
        self.refresh_soon()

    @property
    def paused(self) -> bool:
        return self.pause.active(self.now())

    def stop(self) -> None:
        """No more reads (the tray quits): a status read after Quit would tell of changes
        nobody is there to see, and a notice from a quitting tray is noise."""
        self._stopped = True
        self._timer.stop()
        self._soon.stop()

    def refresh(self) -> None:
        """Read the status again (in the background; calls while one runs coalesce)."""
        if self._stopped:
            return
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

    def _read(self) -> tuple[datetime, Status, Pause]:
        now = datetime.now(UTC)
        return now, self.service.status(now), read_pause(self.service.paths)

    def _read_done(self, result: tuple[datetime, Status, Pause]) -> None:
        if self._stopped:
            return
        self.read_at, self.status, self.pause = result
        self.problems = problems_of(self.status.sources, self.read_at)
        self._busy = False
        self.changed.emit()
        if self._again:
            self._again = False
            self.refresh()

    def _read_failed(self, _exc: BaseException) -> None:
        self._busy = False  # logged by the worker; the next refresh tries again

    # -- what to show ----------------------------------------------------------------

    @property
    def sources(self) -> list[SourceStatus]:
        return self.status.sources if self.status else []

    def now(self) -> datetime:
        return datetime.now(UTC)

    def jobs_of(self, source: str) -> list[JobActivity]:
        return [job for job in self.activity.values() if job.source == source]

    def is_busy(self, source: str, kind: str = "backup") -> bool:
        """A job of `kind` of `source` is queued or runs here, or (a backup) in another
        process. An upload, a verify or a drill running does not make a backup busy: a
        backup asked for meanwhile waits its turn in the queue."""
        return any(j.kind == kind for j in self.jobs_of(source)) or any(
            s.name == source and s.backing_up for s in self.sources if kind == "backup"
        )

    def state(self) -> str:
        """ok | running | warning | error, for the icon: the worst current problem."""
        levels = {p.level for p in self.problems.values()}
        if levels:
            return "error" if "error" in levels else "warning"
        if any(j.running for j in self.activity.values()):
            return "running"
        if any(notes_of(s) for s in self.sources):
            return "warning"
        return "running" if any(s.running for s in self.sources) else "ok"

    def source_state(self, source: SourceStatus) -> str:
        problem = self.problems.get(source.name)
        if problem is not None:
            return problem.level
        if any(j.running for j in self.jobs_of(source.name)) or source.running:
            return "running"
        return "warning" if notes_of(source) else "ok"

    def source_line(self, source: SourceStatus) -> str:
        """'notes — 12 min ago', 'notes — backing up… 45%', 'notes — Backup failed: …'."""
        return f"{source.title} — {self.source_detail(source)}"

    def source_detail(self, source: SourceStatus) -> str:
        """What it does now, else its problem in words, else its last backup (and notes)."""
        now = self.now()
        for job in self.jobs_of(source.name):
            doing = _DOING.get(job.kind, job.kind)
            if job.running:
                share = f" {percent(job.done, job.total)}%" if job.total else ""
                return f"{doing}…{share}"
            return f"{doing}: waiting"
        if source.running:
            return "backing up…"
        problem = self.problems.get(source.name)
        if problem is not None:
            text = in_gui_words(problem.reason)
        elif source.continuous:
            running = self.status is not None and self.status.scheduler_pid is not None
            text = (
                continuous_line(
                    source.continuous_state, now, lifeboat_running=running, paused=self.paused
                )
                or ""
            )
            text = text[:1].upper() + text[1:]
            held = remote_history_words(source)
            text += f" ({held})" if held else ""
        elif source.last_backup is None:
            text = "not backed up yet"
        elif source.unchanged_since is not None:
            text = f"backed up {time_ago(source.last_backup, now)} (nothing changed)"
        else:
            text = f"backed up {time_ago(source.last_backup, now)}"
        return "; ".join([text, *notes_of(source)])

    def next_backup(self, source: SourceStatus) -> str:
        """'in 5 min', 'retry today 14:05', 'by hand only', 'paused'."""
        now = self.now()
        if source.retry_kind == "backup" and source.retry_at is not None:
            return f"retry {time_until(source.retry_at, now)}"
        if self.paused:
            return "paused"
        return time_until(source.next_run, now) if source.next_run else "by hand only"

    def pause_text(self) -> str:
        """'Paused until 14:05', 'Paused until tomorrow 00:00', 'Paused until you resume'."""
        until = self.pause.until
        if until is None:
            return "Paused until you resume"
        local, today = until.astimezone(), self.now().astimezone()
        if local.date() == today.date():
            return f"Paused until {local:%H:%M}"
        if (local.date() - today.date()).days == 1:
            return f"Paused until tomorrow {local:%H:%M}"
        return f"Paused until {local_time(until)}"

    def problem_lines(self) -> list[str]:
        """Each current problem: 'crm: Backup failed: the disk is full' (worst first)."""
        order = {"error": 0, "warning": 1}
        found = sorted(self.problems.values(), key=lambda p: order[p.level])
        return [f"{p.source}: {in_gui_words(p.reason)}" for p in found]

    def summary(self) -> str:
        """One line for the whole: the tooltip's and main window's headline."""
        if self.status is None:
            return "Reading the status…"
        if not self.sources:
            return "No databases to back up yet"
        problems = list(self.problems.values())
        if len(problems) > 1:
            return f"{len(problems)} databases need attention"
        if problems:
            return _HEADLINES[problems[0].kind].format(problems[0].source)
        if self.state() == "running":
            return "Backing up…"
        never = [s.name for s in self.sources if s.last_backup is None]
        if never:
            return "Not backed up yet: " + ", ".join(never)
        if any(notes_of(s) for s in self.sources):
            return "Backed up, with notes below"
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
            lines.append(f"Schedules run in the background service (process {self.watching_pid})")
        elif self.paused:
            lines.append(self.pause_text())
        return "\n".join(lines)


def remote_history_words(source: SourceStatus) -> str | None:
    """How far the remote holds a WAL history, briefly: 'on offsite too', 'offsite: 3
    min behind', 'not on offsite yet' (None: no remote, or nothing captured)."""
    remote, until, last = source.remote, source.remote_history_until, source.last_capture
    if remote is None or last is None or source.continuous_every is not None:
        return None
    if until is None:
        return f"not on {remote} yet"
    behind = (last - until).total_seconds()
    if behind <= 0:
        return f"on {remote} too"
    return f"{remote}: {ago_text(behind).removesuffix(' ago')} behind"
