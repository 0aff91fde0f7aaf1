"""The catalog's history: the job runs (queued, running, finished, interrupted) and the
events. Part of the `Catalog` (catalog.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from lifeboat.core.catalog_file import CatalogFile
from lifeboat.core.catalog_records import JobRecord, job_record
from lifeboat.core.manifest import iso_utc, utc_now
from lifeboat.foundation.errors import NotFound
from lifeboat.foundation.states import JobStatus


class JobLog(CatalogFile):
    """Each job run: recorded when queued or started, with the run that owns it."""

    def start_job(
        self,
        kind: str,
        source: str | None,
        trigger: str,
        attempt: int = 1,
        status: JobStatus = JobStatus.RUNNING,
    ) -> int:
        now = iso_utc(utc_now())
        run = self._run_token()
        with self._tx() as db:
            cur = db.execute(
                "insert into jobs(kind, source, trigger, status, queued_at, started_at,"
                " attempt, pid, run) values (?,?,?,?,?,?,?,?,?)",
                (
                    kind,
                    source,
                    trigger,
                    status,
                    now,
                    now if status == "running" else None,
                    attempt,
                    os.getpid(),
                    run,
                ),
            )
            return int(cur.lastrowid or 0)

    def mark_job_running(self, job_id: int) -> None:
        run = self._run_token()
        with self._tx() as db:
            db.execute(
                "update jobs set status='running', started_at=?, pid=?, run=? where id=?",
                (iso_utc(utc_now()), os.getpid(), run, job_id),
            )

    def unfinished_jobs(self) -> list[JobRecord]:
        """Jobs recorded as queued or running (by any process)."""
        with self._tx(write=False) as db:
            rows = db.execute(
                "select * from jobs where status in ('queued', 'running') order by id"
            ).fetchall()
        return [job_record(r) for r in rows]

    def mark_interrupted(self, job_ids: Iterable[int]) -> None:
        """Jobs whose process ended before they did: they will never finish."""
        ids = list(job_ids)
        if not ids:
            return
        now = iso_utc(utc_now())
        with self._tx() as db:
            for job_id in ids:
                db.execute(
                    "update jobs set status='interrupted', finished_at=?, error="
                    "coalesce(error, 'interrupted: the Lifeboat process running it "
                    "ended before it finished') where id=? and status in "
                    "('queued', 'running')",
                    (now, job_id),
                )

    def finish_job(
        self,
        job_id: int,
        status: JobStatus,
        *,
        error: str | None = None,
        snapshot_id: str | None = None,
        detail: dict[str, object] | None = None,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "update jobs set status=?, finished_at=?, error=?, snapshot_id=?,"
                " detail=coalesce(?, detail) where id=?",
                (
                    status,
                    iso_utc(utc_now()),
                    error,
                    snapshot_id,
                    json.dumps(detail) if detail is not None else None,
                    job_id,
                ),
            )

    def jobs(self, limit: int = 50, source: str | None = None) -> list[JobRecord]:
        sql = "select * from jobs"
        args: list[object] = []
        if source is not None:
            sql += " where source=?"
            args.append(source)
        sql += " order by id desc limit ?"
        args.append(limit)
        with self._tx(write=False) as db:
            return [job_record(r) for r in db.execute(sql, args).fetchall()]

    def job(self, job_id: int) -> JobRecord:
        with self._tx(write=False) as db:
            row = db.execute("select * from jobs where id=?", (job_id,)).fetchone()
        if row is None:
            raise NotFound(f"no job {job_id}", "see `lifeboat jobs`")
        return job_record(row)

    def request_cancel(self, job_id: int) -> None:
        with self._tx() as db:
            db.execute("update jobs set cancel_requested=1 where id=?", (job_id,))


class EventLog(CatalogFile):
    """What happened, by level and source; `kind` marks the ones looked up again (the
    health notices)."""

    def add_event(
        self, level: str, message: str, source: str | None = None, kind: str | None = None
    ) -> None:
        with self._tx() as db:
            db.execute(
                "insert into events(at, level, source, message, kind) values (?,?,?,?,?)",
                (iso_utc(utc_now()), level, source, message, kind),
            )

    def last_event_kind(self, source: str, prefix: str) -> str | None:
        """The kind of the newest event of `source` whose kind starts with `prefix`."""
        with self._tx(write=False) as db:
            row = db.execute(
                "select kind from events where source=? and kind like ? order by id desc limit 1",
                (source, prefix + "%"),
            ).fetchone()
        return row["kind"] if row else None

    def last_event(self, source: str, prefix: str) -> tuple[str, str] | None:
        """(kind, message) of the newest event of `source` whose kind starts with
        `prefix`."""
        with self._tx(write=False) as db:
            row = db.execute(
                "select kind, message from events where source=? and kind like ? "
                "order by id desc limit 1",
                (source, prefix + "%"),
            ).fetchone()
        return (row["kind"], row["message"]) if row else None

    def last_events(self, prefix: str) -> dict[str, tuple[str, str]]:
        """last_event of every source at once: source -> (kind, message)."""
        with self._tx(write=False) as db:
            rows = db.execute(
                "select source, kind, message from (select source, kind, message,"
                " row_number() over (partition by source order by id desc) as n"
                " from events where source is not null and kind like ?) where n = 1",
                (prefix + "%",),
            ).fetchall()
        return {row["source"]: (row["kind"], row["message"]) for row in rows}

    def events(self, limit: int = 100) -> list[dict[str, object]]:
        with self._tx(write=False) as db:
            rows = db.execute("select * from events order by id desc limit ?", (limit,))
            return [dict(r) for r in rows]
