"""`lifeboat run|status|jobs|cancel|schedule explain`."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from datetime import datetime
from typing import Any

from lifeboat.cli.output import Output, human_age, local_time
from lifeboat.core.logsetup import configure_logging
from lifeboat.core.manifest import utc_now
from lifeboat.core.schedule import ScheduleError, parse_schedule
from lifeboat.core.schedule_times import next_runs, resolve_timezone
from lifeboat.foundation.errors import LifeboatError
from lifeboat.foundation.units import format_bytes
from lifeboat.scheduling.pause import read_pause
from lifeboat.service import Service
from lifeboat.service.history_remote import remote_history_line
from lifeboat.service.history_status import continuous_line
from lifeboat.service.status import SourceStatus


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    run = commands.add_parser("run", help="run the scheduler in the foreground (headless)")
    run.set_defaults(handler=cmd_run)

    status = commands.add_parser(
        "status", parents=[common], help="each source's state, last and next backup"
    )
    status.set_defaults(handler=cmd_status)

    jobs = commands.add_parser("jobs", parents=[common], help="job history, newest first")
    jobs.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    jobs.add_argument("--source", help="only this source's jobs")
    jobs.set_defaults(handler=cmd_jobs)

    cancel = commands.add_parser("cancel", parents=[common], help="cancel a queued or running job")
    cancel.add_argument("job", type=int, help="the job number (see `lifeboat jobs`)")
    cancel.set_defaults(handler=cmd_cancel)

    schedule = commands.add_parser("schedule", help="understand schedule specs")
    actions = schedule.add_subparsers(dest="action", metavar="ACTION", parser_class=type(schedule))
    explain = actions.add_parser(
        "explain", parents=[common], help="describe a spec and show its next 5 run times"
    )
    explain.add_argument("spec", nargs="+", help="e.g. daily 03:00")
    explain.set_defaults(handler=cmd_explain)
    schedule.set_defaults(handler=lambda a, s, o: (schedule.print_help(), 2)[1])


def cmd_run(args: argparse.Namespace, service: Service, out: Output) -> int:
    from lifeboat.scheduling.scheduler import Scheduler

    configure_logging(service.paths, stderr_level=logging.INFO)
    lock = service.scheduler_lock()
    lock.acquire("scheduler")
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        logging.getLogger("lifeboat.daemon").info(
            "received %s: stopping", signal.Signals(signum).name
        )
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        Scheduler(service).run(stop)
    finally:
        lock.release()
    return 0


def cmd_status(args: argparse.Namespace, service: Service, out: Output) -> int:
    now = utc_now()
    status = service.status(now)
    if out.json_mode:
        out.json(status.to_json())
        return 0
    who = (
        f"scheduler running (pid {status.scheduler_pid})"
        if status.scheduler_pid
        else "no scheduler running (start one with `lifeboat run` or the tray)"
    )
    out.line(f"overall: {status.state}; {who}")
    if not status.sources:
        out.line("no sources yet; add one with: lifeboat source add PATH")
    rows = [_status_row(s, now) for s in status.sources]
    if rows:
        out.table(
            ["SOURCE", "STATE", "SCHEDULE", "LAST BACKUP", "NEXT RUN", "STORED", "FLAGS"],
            rows,
        )
    paused = read_pause(service.paths).active(now)
    for s in status.sources:
        line = continuous_line(
            s.continuous_state,
            now,
            lifeboat_running=status.scheduler_pid is not None,
            paused=paused,
        )
        if line:
            out.line(f"{s.name}: {line}")
        held = remote_history_line(s.remote, s.remote_history_until, s.last_capture, now)
        if held and s.continuous and s.continuous_every is None:  # a WAL history
            out.line(f"{s.name}: {held}")
        _say_source_problems(out, s, now)
    return 0


def _last_result(s: SourceStatus) -> str:
    """'ok', 'failed' ... or 'unchanged' (the last backup found nothing new to store)."""
    return "unchanged" if s.unchanged_since is not None else s.last_result


def _status_row(s: SourceStatus, now: datetime) -> list[str]:
    """One source's row of the `lifeboat status` table."""
    last = f"{human_age(s.last_backup, now)} ({_last_result(s)})"
    flags = ", ".join(
        f
        for f, on in (
            ("STALE", s.stale),
            ("retry pending", s.retry_pending),
            ("running", s.running),
        )
        if on
    )
    return [
        s.name,
        s.state,
        s.schedule_description,
        last,
        local_time(s.next_run) if s.next_run else "-",
        format_bytes(s.snapshot_bytes),
        flags,
    ]


def _say_source_problems(out: Output, s: SourceStatus, now: datetime) -> None:
    """The lines under the table about one source: its failure, damaged or missing
    snapshots, and its last restore drill."""
    if s.last_error:
        out.line(f"{s.name}: last run failed: {s.last_error}")
    if s.damaged:
        out.line(
            f"{s.name}: {s.damaged} damaged snapshot(s) kept for you to look at "
            f"(`lifeboat snapshots {s.name}`); they are never pruned, delete them "
            "when you no longer need them"
        )
    if s.missing_files:
        out.line(
            f"{s.name}: {s.missing_files} snapshot(s) whose file is missing "
            f"(`lifeboat snapshots {s.name}`)"
        )
    if s.last_drill is None:
        out.line(f"{s.name}: no restore drill yet (lifeboat drill {s.name})")
    elif s.drill_passed:
        out.line(
            f"{s.name}: drill passed {human_age(s.last_drill, now)}, "
            f"{s.drill_detail or 'no detail'}"
        )
    else:
        out.line(f"{s.name}: DRILL FAILED {human_age(s.last_drill, now)}: {s.drill_detail}")


def cmd_jobs(args: argparse.Namespace, service: Service, out: Output) -> int:
    if args.limit < 1:
        raise LifeboatError("--limit must be at least 1", "e.g. --limit 50")
    jobs = service.jobs(limit=args.limit, source=args.source)
    if out.json_mode:
        out.json([j.to_json() for j in jobs])
        return 0
    if not jobs:
        out.line("no jobs yet")
        return 0
    out.table(
        ["JOB", "KIND", "SOURCE", "TRIGGER", "TRY", "STATUS", "STARTED", "ERROR"],
        [
            [
                str(j.id),
                j.kind,
                j.source or "-",
                j.trigger,
                str(j.attempt),
                j.status,
                _when(j.started_at or j.queued_at),
                (j.error or "")[:70],
            ]
            for j in jobs
        ],
    )
    return 0


def cmd_cancel(args: argparse.Namespace, service: Service, out: Output) -> int:
    job = service.cancel_job(args.job)
    out.result(
        {"job": job.id, "cancel_requested": True},
        f"asked job {job.id} ({job.kind} {job.source or ''}) to stop; it stops "
        "within seconds and is recorded as cancelled",
    )
    return 0


def cmd_explain(args: argparse.Namespace, service: Service, out: Output) -> int:
    text = " ".join(args.spec)
    try:
        schedule = parse_schedule(text)
    except ScheduleError as exc:
        raise LifeboatError(str(exc), "see `lifeboat schedule explain --help`") from None
    tz = resolve_timezone(service.config().general.timezone)
    runs = next_runs(schedule, tz, utc_now(), 5)
    data = {
        "spec": schedule.spec,
        "description": schedule.describe(),
        "timezone": str(tz),
        "next_runs": [r.isoformat() for r in runs],
    }
    out.result(
        data,
        [
            f"{schedule.spec}: {schedule.describe()} ({tz})",
            *(f"  {r.strftime('%a %Y-%m-%d %H:%M %Z')}" for r in runs),
        ],
    )
    return 0


def _when(text: str | None) -> str:
    if not text:
        return "-"
    return local_time(datetime.fromisoformat(text.replace("Z", "+00:00")))
