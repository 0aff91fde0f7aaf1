"""DrillJob: prove that backups restore. Restore the newest snapshot and a random older
one (from their remote copies where there are some: only that proves those restore) to
a temporary folder through the normal path, check them, and delete them again.

Never touches the live database.
"""

from __future__ import annotations

import contextlib
import logging
import random
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.dbinspect import take_inventory
from lifeboat.core.history.spans import random_moment
from lifeboat.core.manifest import iso_utc
from lifeboat.core.private import make_new_dir
from lifeboat.core.results import DrillCheck, PointChoice
from lifeboat.core.sqlite_file import open_copy
from lifeboat.core.verify import extract_verified
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import Cancelled, LifeboatError
from lifeboat.foundation.progress import CancelToken, Progress
from lifeboat.foundation.states import JobKind, JobStatus
from lifeboat.jobs.base import JobOutcome
from lifeboat.jobs.drill_points import DrillHistory, drill_history, snapshot_moment
from lifeboat.jobs.restore_point import Chains, chain_times, choose_point, rebuild_checked
from lifeboat.remote.fetch import SnapshotFiles, fetch_artifact, snapshot_files

log = logging.getLogger(__name__)


class DrillJob:
    kind = JobKind.DRILL

    def __init__(
        self,
        workspace: Workspace,
        source: str,
        *,
        rng: random.Random | None = None,
        chains: Chains | None = None,
    ) -> None:
        """`chains`: the source's continuous history (service/history.py), if it has
        one: a random point of it is drilled too."""
        self.workspace = workspace
        self.source = source
        self.rng = rng or random.Random()
        self.chains = chains or {}

    def prepare(self) -> None:
        self.workspace.config().source(self.source)
        if not self._candidates():
            raise LifeboatError(
                f"source {self.source} has no snapshot to drill yet",
                f"take one: lifeboat backup {self.source}",
            )

    def run(self, progress: Progress, cancel: CancelToken) -> JobOutcome[list[DrillCheck]]:
        candidates = self._candidates()
        picks = candidates[:1]
        if len(candidates) > 1:
            picks.append(self.rng.choice(candidates[1:]))
        checks = [self._drill(record, progress, cancel) for record in picks]
        point = self._drill_point(progress, cancel)
        if point is not None:
            checks.append(point)
        failed = [c for c in checks if not c.ok]
        for check in checks:
            log.info(
                "drill of %s: %s %s (%s copy): %s",
                self.source,
                "point on base" if check.point else "snapshot",
                check.snapshot_id,
                check.copy,
                "passed" if check.ok else f"FAILED: {check.problem}",
            )
        message = "; ".join(f"{c.snapshot_id} ({c.copy}): {c.problem}" for c in failed)
        return JobOutcome(
            result=checks,
            status=JobStatus.FAILED if failed else JobStatus.OK,
            message=f"drill failed: {message}" if failed else "",
            detail={"checks": [c.to_json() for c in checks]},
        )

    def _candidates(self) -> list[SnapshotRecord]:
        return [
            r
            for r in self.workspace.catalog.snapshots(self.source)
            if r.manifest.kind != "raw" and (r.copies or r.local)
        ]

    def _drill(self, record: SnapshotRecord, progress: Progress, cancel: CancelToken) -> DrillCheck:
        started = time.monotonic()
        config = self.workspace.config()
        src = config.source(self.source)
        temp_dir = self.workspace.run.work_path(self.workspace.scratch(config), "drill")
        copy = record.copies[0].remote if record.copies else "local"
        problem = None
        try:
            make_new_dir(temp_dir)
            restored = temp_dir / "restored.sqlite"
            with self._files(record, temp_dir, progress, cancel) as files:
                extract_verified(
                    files.folder,
                    record.manifest,
                    restored,
                    check="full",
                    progress=progress,
                    cancel=cancel,
                    base=files.base,
                )
            problem = _row_counts(record, restored) or _drill_sql(src.drill_sql, restored)
        except Cancelled:
            raise  # a cancelled drill proves nothing either way: no verdict
        except LifeboatError as exc:
            problem = exc.message
        finally:
            shutil.rmtree(temp_dir, ignore_errors=True)
        return DrillCheck(
            record.id,
            iso_utc(record.manifest.created_at),
            copy,
            problem is None,
            problem,
            round(time.monotonic() - started, 3),
        )

    def _drill_point(self, progress: Progress, cancel: CancelToken) -> DrillCheck | None:
        """A random moment among every time a restore can give back (drill_points.py),
        restored into a temporary folder and fully checked (integrity, drill_sql);
        None when the source has neither a history nor continuous snapshots. A history
        that cannot be read, here or on the remote, fails the drill."""
        src = self.workspace.config().source(self.source)
        started = time.monotonic()
        try:
            with drill_history(self.workspace, src, self.chains, progress, cancel) as history:
                if history.chains:
                    return self._drill_history_point(history, progress, cancel)
        except Cancelled:
            raise
        except LifeboatError as exc:
            return DrillCheck(
                "history",
                iso_utc(datetime.now(UTC)),
                src.remote or "local",
                False,
                exc.message,
                round(time.monotonic() - started, 3),
                {"source": self.source},
            )
        if not src.continuous:
            return None
        return self._drill_snapshot_moment(progress, cancel)

    def _drill_history_point(
        self, history: DrillHistory, progress: Progress, cancel: CancelToken
    ) -> DrillCheck | None:
        started = time.monotonic()
        src = self.workspace.config().source(self.source)
        chains = history.chains
        temp_dir = self.workspace.run.work_path(self.workspace.scratch(), "drill")
        choice: PointChoice | None = None
        problem = None
        try:
            at_us = random_moment(chain_times(self.workspace, chains), self.rng)
            if at_us is None:
                return None  # no chain whose base is still here
            at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=at_us)
            choice = choose_point(self.workspace, self.source, chains, at, datetime.now(UTC))
            make_new_dir(temp_dir)
            restored = temp_dir / "restored.sqlite"
            rebuild_checked(
                self.workspace,
                choice,
                chains,
                restored,
                check="full",
                progress=progress,
                cancel=cancel,
            )
            problem = _drill_sql(src.drill_sql, restored)
        except Cancelled:
            raise
        except LifeboatError as exc:
            problem = exc.message
        finally:
            shutil.rmtree(temp_dir, ignore_errors=True)
        return DrillCheck(
            choice.base_id if choice else "history",
            iso_utc(choice.commit_time) if choice else iso_utc(datetime.now(UTC)),
            history.where.get(choice.base_id, "local") if choice else "local",
            problem is None,
            problem,
            round(time.monotonic() - started, 3),
            choice.to_json() if choice else {"source": self.source},
        )

    def _drill_snapshot_moment(self, progress: Progress, cancel: CancelToken) -> DrillCheck | None:
        """A source protected by differentials after each change (a rollback-journal
        database): a random moment between its oldest and newest snapshot, restored as a
        restore at that moment would (the last snapshot at or before it)."""
        at = snapshot_moment(self._candidates(), self.rng)
        if at is None:
            return None
        choice = choose_point(self.workspace, self.source, {}, at, datetime.now(UTC))
        check = self._drill(self.workspace.catalog.snapshot(choice.base_id), progress, cancel)
        return replace(check, point=choice.to_json())

    @contextlib.contextmanager
    def _files(
        self, record: SnapshotRecord, temp_dir: Path, progress: Progress, cancel: CancelToken
    ) -> Iterator[SnapshotFiles]:
        """Remote copies where there are some (the base too), else the local files."""
        if not record.copies:
            with snapshot_files(self.workspace, record, progress, cancel) as files:
                yield files
            return
        folder = fetch_artifact(self.workspace, record, temp_dir / "snapshot", progress, cancel)
        if record.manifest.kind != "diff":
            yield SnapshotFiles(folder, record.manifest)
            return
        base = self.workspace.catalog.snapshot(str(record.manifest.base))
        if base.copies:
            base_folder = fetch_artifact(self.workspace, base, temp_dir / "base", progress, cancel)
            yield SnapshotFiles(folder, record.manifest, (base_folder, base.manifest))
        else:
            with snapshot_files(self.workspace, base, progress, cancel) as files:
                yield SnapshotFiles(folder, record.manifest, (files.folder, base.manifest))


def _row_counts(record: SnapshotRecord, restored: Path) -> str | None:
    expected = record.manifest.tables
    if expected is None:
        return None  # a snapshot from before row counts were recorded
    found = take_inventory(restored).tables
    wrong = [
        f"{t}: {n} rows, manifest says {expected.get(t)}"
        for t, n in found.items()
        if expected.get(t) != n
    ]
    wrong += [f"{t}: missing" for t in expected if t not in found]
    return ("row counts differ from the manifest (" + "; ".join(wrong[:3]) + ")") if wrong else None


def _drill_sql(query: str | None, restored: Path) -> str | None:
    if not query:
        return None
    conn = open_copy(restored)  # with stand-ins for the application's own functions
    try:
        row = conn.execute(query).fetchone()
    except sqlite3.Error as exc:
        return f"drill_sql failed: {exc}"
    finally:
        conn.close()
    if not row or not row[0]:
        # A query that used a stand-in (NULL, binary order) says nothing about the data.
        used = sorted(conn.stand_ins.used)
        note = (
            (
                f"; it used {', '.join(used)}, which only the application defines "
                "(outside it Lifeboat stands in with NULL for a function and binary order "
                "for a collation): write drill_sql without it"
            )
            if used
            else ""
        )
        return f"drill_sql returned {row[0] if row else 'no row'} ({query}){note}"
    return None
