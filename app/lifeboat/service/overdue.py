"""Whether a database is overdue: its last backup too old, or, never backed up, added
long enough ago that its first scheduled run (and a grace) has passed: a database added
seconds ago is never overdue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from lifeboat.core.catalog_records import JobRecord
from lifeboat.core.config_model import Config, SourceConfig
from lifeboat.core.manifest import parse_iso_utc
from lifeboat.core.schedule_times import next_runs
from lifeboat.core.workspace import Workspace

#: How long after its first scheduled time a database never backed up may go before it
#: counts as overdue (the first run may wait for others in the queue).
FIRST_RUN_GRACE = timedelta(hours=1)


def overdue_when_new(
    since: datetime, first_runs: list[datetime], limit: timedelta, now: datetime
) -> bool:
    """Whether a database known since `since` and never backed up is overdue: as a backed-
    up one would be `limit` after its snapshot, and never before its first scheduled time
    (`first_runs`: the schedule's first run after `since`) and a grace have passed."""
    if now - since <= limit:
        return False
    return not first_runs or now > first_runs[0] + FIRST_RUN_GRACE


def is_overdue(
    workspace: Workspace,
    config: Config,
    src: SourceConfig,
    jobs: list[JobRecord],
    newest: datetime | None,
    limit: timedelta | None,
    now: datetime,
    tz: tzinfo,
) -> bool:
    """Whether the last backup (`newest`: a snapshot, or a check that found the database
    unchanged since one) is too old, or (never backed up) the database
    was added long enough ago and its first scheduled run has passed."""
    if limit is None:
        return False
    if newest is not None:
        return now - newest > limit
    since = _known_since(workspace, config, src, jobs)
    first = next_runs(src.backup_schedule, tz, since, 1) if since else []
    return since is not None and overdue_when_new(since, first, limit, now)


def _known_since(
    workspace: Workspace, config: Config, src: SourceConfig, jobs: list[JobRecord]
) -> datetime | None:
    """Since when Lifeboat has known a source: its oldest job, or its snapshot folder,
    made when it was added (None: neither is there yet)."""
    times = [parse_iso_utc(j.queued_at) for j in jobs if j.source == src.name and j.queued_at]
    try:
        folder = workspace.snapshot_root(config, src) / src.name
        times.append(datetime.fromtimestamp(folder.stat().st_mtime, UTC))
    except OSError:
        pass
    return min(times) if times else None
