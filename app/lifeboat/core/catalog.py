"""The catalog: an index of snapshots, job runs and events in its own SQLite file.

It is only an index: the manifests beside the artifacts are the truth, and
`rebuild_snapshots` recreates the snapshot rows from them. WAL mode and a busy timeout
make it safe for the tray, the daemon and CLI commands to use at once; every call opens
a short transaction on its own connection, so it is safe across threads too.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path

from lifeboat.core.catalog_records import (
    AttentionItem,
    JobRecord,
    OpenUpload,
    RemoteCopy,
    SnapshotRecord,
    copies_by_snapshot,
    job_record,
    snapshot_record,
)
from lifeboat.core.catalog_sqlite import (
    CatalogFull,
    catalog_problem,
    read_connection,
    rollback,
    user_version,
)
from lifeboat.core.manifest import Manifest, iso_utc, utc_now
from lifeboat.core.private import create_file, disk_full, is_link, private_dir, tighten
from lifeboat.foundation.errors import LifeboatError, NotFound
from lifeboat.foundation.states import JobStatus, SnapshotStatus

SCHEMA_VERSION = 5
_SCHEMA = [
    # version 1
    """
    create table snapshots (
        id text primary key,
        source text not null,
        created_at text not null,
        folder text not null,
        manifest text not null,
        protected integer not null default 0,
        reason text not null,
        status text not null default 'ok',
        status_detail text,
        verified_at text
    );
    create index snapshots_by_source on snapshots(source, created_at);
    create table jobs (
        id integer primary key autoincrement,
        kind text not null,
        source text,
        trigger text not null,
        status text not null,
        queued_at text not null,
        started_at text,
        finished_at text,
        attempt integer not null default 1,
        error text,
        snapshot_id text,
        detail text,
        pid integer,
        cancel_requested integer not null default 0
    );
    create index jobs_by_source on jobs(source, id);
    create table events (
        id integer primary key autoincrement,
        at text not null,
        level text not null,
        source text,
        message text not null
    );
    """,
    # version 2: events get a kind (e.g. the health notices sent for a source)
    """
    alter table events add column kind text;
    create index events_by_kind on events(source, kind, id);
    """,
    # version 3: copies of snapshots on remotes
    """
    create table remote_copies (
        snapshot_id text not null,
        remote text not null,
        key text not null,
        manifest_key text not null,
        size integer not null,
        sha256 text not null,
        encrypted integer not null default 0,
        uploaded_at text not null,
        primary key (snapshot_id, remote)
    );
    """,
    # version 4: the run that owns a job (see core/runs.py); files that need attention;
    # multipart uploads that are open on a remote
    """
    alter table jobs add column run text;
    create table attention (
        path text primary key,
        folder text not null,
        source text,
        kind text not null,
        reason text not null,
        found_at text not null
    );
    create index attention_by_folder on attention(folder);
    create table open_uploads (
        upload_id text primary key,
        remote text not null,
        key text not null,
        run text,
        started_at text not null
    );
    """,
    # version 5: whether the server is proven to hold a copy's bytes. Copies recorded
    # before are not (an older Lifeboat counted copies it had not proven, and a scan
    # adopted them on their size): the next upload job proves them or sends them again.
    """
    alter table remote_copies add column proven integer not null default 0;
    alter table remote_copies add column proof_failed text;
    """,
]


class Catalog:
    def __init__(self, path: Path, run_token: Callable[[], str | None] | None = None) -> None:
        self.path = Path(path)
        #: the token of this process's run (core/runs.py), recorded with each job
        self._run_token = run_token or (lambda: None)
        self._migrate()

    # -- snapshots ---------------------------------------------------------------

    def add_snapshot(self, manifest: Manifest, folder: Path, status: str = "ok") -> None:
        with self._tx() as db:
            db.execute(
                "insert or replace into snapshots(id, source, created_at, folder, manifest,"
                " protected, reason, status) values (?,?,?,?,?,?,?,?)",
                (
                    manifest.id,
                    manifest.source,
                    iso_utc(manifest.created_at),
                    str(folder),
                    manifest.to_json().decode(),
                    int(manifest.protected),
                    manifest.reason,
                    status,
                ),
            )

    def update_manifest(self, manifest: Manifest) -> None:
        with self._tx() as db:
            db.execute(
                "update snapshots set manifest=?, protected=?, reason=? where id=?",
                (
                    manifest.to_json().decode(),
                    int(manifest.protected),
                    manifest.reason,
                    manifest.id,
                ),
            )

    def snapshots(self, source: str | None = None) -> list[SnapshotRecord]:
        """Snapshots, newest first."""
        sql = "select * from snapshots"
        args: tuple[object, ...] = ()
        if source is not None:
            sql += " where source=?"
            args = (source,)
        with self._tx(write=False) as db:
            rows = db.execute(sql + " order by created_at desc, id desc", args).fetchall()
            copies = copies_by_snapshot(db, source)
        return [snapshot_record(r, copies.get(r["id"], ())) for r in rows]

    def snapshot(self, ref: str) -> SnapshotRecord:
        """One snapshot by id or unique id prefix (at least 4 characters)."""
        ref = ref.strip().lower()
        if len(ref) < 4 or not all(c in "0123456789abcdef" for c in ref):
            raise NotFound(
                f"{ref!r} is not a snapshot id",
                "snapshot ids are 8 hex digits; see `lifeboat snapshots`",
            )
        with self._tx(write=False) as db:
            rows = db.execute(
                "select * from snapshots where id like ? limit 2", (ref + "%",)
            ).fetchall()
        if not rows:
            raise NotFound(f"no snapshot with id {ref}", "see `lifeboat snapshots`")
        if len(rows) > 1:
            raise NotFound(f"snapshot id {ref} is ambiguous", "give more of its digits")
        with self._tx(write=False) as db:
            copies = copies_by_snapshot(db, rows[0]["source"])
        return snapshot_record(rows[0], copies.get(rows[0]["id"], ()))

    def set_status(
        self,
        snap_id: str,
        status: SnapshotStatus,
        detail: str | None,
        verified_at: datetime | None = None,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "update snapshots set status=?, status_detail=?,"
                " verified_at=coalesce(?, verified_at) where id=?",
                (status, detail, iso_utc(verified_at) if verified_at else None, snap_id),
            )

    def forget_local_files(self, snap_id: str) -> None:
        """A snapshot's files here are gone by the user's decision: a snapshot with remote
        copies stays listed as remote only; one without is forgotten."""
        with self._tx() as db:
            remotes = [
                r["remote"]
                for r in db.execute(
                    "select remote from remote_copies where snapshot_id=? order by remote",
                    (snap_id,),
                )
            ]
            if remotes:
                db.execute(
                    "update snapshots set status=?, status_detail=? where id=?",
                    (SnapshotStatus.REMOTE, "deleted here; on " + ", ".join(remotes), snap_id),
                )
            else:
                db.execute("delete from snapshots where id=?", (snap_id,))

    def remove_snapshot(self, snap_id: str) -> None:
        with self._tx() as db:
            db.execute("delete from snapshots where id=?", (snap_id,))
            db.execute("delete from remote_copies where snapshot_id=?", (snap_id,))

    # -- remote copies ---------------------------------------------------------------

    def add_remote_copy(self, snap_id: str, copy: RemoteCopy) -> None:
        with self._tx() as db:
            _insert_copy(db, snap_id, copy)

    def set_copy_proof(self, snap_id: str, copy: RemoteCopy, failed: str | None = None) -> None:
        """Record what proving `copy` (still the one recorded) found: proven, or why not."""
        with self._tx() as db:
            db.execute(
                "update remote_copies set proven=?, proof_failed=? where snapshot_id=? and"
                " remote=? and key=? and sha256=? and size=?",
                (
                    int(failed is None),
                    failed,
                    snap_id,
                    copy.remote,
                    copy.key,
                    copy.sha256,
                    copy.size,
                ),
            )

    def remove_remote_copy(self, snap_id: str, remote: str) -> None:
        """Forget a remote copy; a snapshot left with no copy anywhere is forgotten too."""
        with self._tx() as db:
            db.execute(
                "delete from remote_copies where snapshot_id=? and remote=?", (snap_id, remote)
            )
            left = db.execute(
                "select count(*) from remote_copies where snapshot_id=?", (snap_id,)
            ).fetchone()[0]
            if not left:
                db.execute("delete from snapshots where id=? and status='remote'", (snap_id,))

    def replace_remote_copies(self, remote: str, found: Iterable[tuple[str, RemoteCopy]]) -> None:
        with self._tx() as db:
            db.execute("delete from remote_copies where remote=?", (remote,))
            for snap_id, copy in found:
                _insert_copy(db, snap_id, copy)

    def replace_folder_snapshots(
        self, folder: Path, found: Iterable[tuple[Manifest, Path, str]]
    ) -> None:
        """Make the local snapshot rows of `folder` exactly `found` (a scan of it, made
        under its lock); a snapshot no longer there but on a remote stays, as remote
        only. Verification state of survivors is kept; other folders are not touched."""
        found = list(found)
        ids = [m.id for m, _, _ in found]
        marks = ",".join("?" * len(ids)) or "''"
        with self._tx() as db:
            db.execute(
                f"update snapshots set status='remote', status_detail='not here; on a remote'"
                f" where folder=? and status != 'remote' and id not in ({marks}) and id in"
                " (select snapshot_id from remote_copies)",
                (str(folder), *ids),
            )
            db.execute(
                f"delete from snapshots where folder=? and id not in ({marks}) and id not in"
                " (select snapshot_id from remote_copies)",
                (str(folder), *ids),
            )
            self._write_rows(db, found)

    def add_remote_only(self, manifest: Manifest, folder: Path) -> None:
        """A snapshot seen on a remote: a row (as remote only) if the catalog has none."""
        with self._tx() as db:
            if db.execute("select 1 from snapshots where id=?", (manifest.id,)).fetchone():
                return
            self._write_rows(db, [(manifest, folder, "remote")])

    def forget_snapshots_nowhere(self) -> None:
        """Rows of remote-only snapshots that no remote holds any more."""
        with self._tx() as db:
            db.execute(
                "delete from snapshots where status='remote' and id not in"
                " (select snapshot_id from remote_copies)"
            )

    @staticmethod
    def _write_rows(
        db: sqlite3.Connection,
        found: Iterable[tuple[Manifest, Path, str]],
        old: dict[str, sqlite3.Row] | None = None,
    ) -> None:
        """Insert or replace snapshot rows; a survivor found ok keeps its verification."""
        if old is None:
            ids = [m.id for m, _, _ in found]
            old = {}
            for chunk in range(0, len(ids), 500):
                part = ids[chunk : chunk + 500]
                old.update(
                    {
                        r["id"]: r
                        for r in db.execute(
                            "select id, status, status_detail, verified_at from snapshots"
                            f" where id in ({','.join('?' * len(part))})",
                            part,
                        )
                    }
                )
        for manifest, folder, status in found:
            prev: sqlite3.Row | None = old.get(manifest.id)
            # What a verify found (damage included) stays; a row that was remote only or
            # missing takes what the scan found now.
            kept = prev is not None and status == "ok" and prev["status"] in ("ok", "corrupt")
            row_status, detail = (
                (prev["status"], prev["status_detail"])
                if kept and prev is not None
                else (status, None)
            )
            db.execute(
                "insert or replace into snapshots(id, source, created_at, folder, manifest,"
                " protected, reason, status, status_detail, verified_at)"
                " values (?,?,?,?,?,?,?,?,?,?)",
                (
                    manifest.id,
                    manifest.source,
                    iso_utc(manifest.created_at),
                    str(folder),
                    manifest.to_json().decode(),
                    int(manifest.protected),
                    manifest.reason,
                    row_status,
                    detail,
                    prev["verified_at"] if prev is not None else None,
                ),
            )

    # -- jobs and events ---------------------------------------------------------

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

    def events(self, limit: int = 100) -> list[dict[str, object]]:
        with self._tx(write=False) as db:
            rows = db.execute("select * from events order by id desc limit ?", (limit,))
            return [dict(r) for r in rows]

    # -- files that need attention --------------------------------------------------

    def set_attention(self, folder: Path, items: Iterable[AttentionItem]) -> None:
        """Make the attention rows of `folder` exactly `items` (a fresh scan of it)."""
        with self._tx() as db:
            db.execute("delete from attention where folder=?", (str(folder),))
            for item in items:
                db.execute(
                    "insert or replace into attention(path, folder, source, kind, "
                    "reason, found_at) values (?,?,?,?,?,?)",
                    (
                        str(item.path),
                        str(item.folder),
                        item.source,
                        item.kind,
                        item.reason,
                        item.found_at,
                    ),
                )

    def attention(self, source: str | None = None) -> list[AttentionItem]:
        sql = "select * from attention"
        args: tuple[object, ...] = ()
        if source is not None:
            sql += " where source=?"
            args = (source,)
        with self._tx(write=False) as db:
            rows = db.execute(sql + " order by folder, path", args).fetchall()
        return [
            AttentionItem(
                Path(r["path"]),
                Path(r["folder"]),
                r["source"],
                r["kind"],
                r["reason"],
                r["found_at"],
            )
            for r in rows
        ]

    # -- multipart uploads open on remotes -------------------------------------------

    def add_open_upload(self, remote: str, key: str, upload_id: str) -> None:
        with self._tx() as db:
            db.execute(
                "insert or replace into open_uploads(upload_id, remote, key, run, "
                "started_at) values (?,?,?,?,?)",
                (upload_id, remote, key, self._run_token(), iso_utc(utc_now())),
            )

    def remove_open_upload(self, upload_id: str) -> None:
        with self._tx() as db:
            db.execute("delete from open_uploads where upload_id=?", (upload_id,))

    def open_uploads(self, remote: str | None = None) -> list[OpenUpload]:
        sql = "select * from open_uploads"
        args: tuple[object, ...] = ()
        if remote is not None:
            sql += " where remote=?"
            args = (remote,)
        with self._tx(write=False) as db:
            rows = db.execute(sql + " order by started_at", args).fetchall()
        return [
            OpenUpload(r["upload_id"], r["remote"], r["key"], r["run"], r["started_at"])
            for r in rows
        ]

    # -- plumbing ----------------------------------------------------------------

    @contextlib.contextmanager
    def _tx(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction on a connection of its own: a write transaction by default,
        a read one (which needs no free disk space) with `write=False`."""
        with self._errors(writing=write):
            db = self._connect() if write else read_connection(self._connect)
            try:
                if write:
                    db.execute("begin immediate")
                yield db
                db.execute("commit")
            except BaseException:
                rollback(db)
                raise
            finally:
                db.close()

    @contextlib.contextmanager
    def _errors(self, *, writing: bool) -> Iterator[None]:
        """SQLite's errors as what happened to the catalog (full disk, damaged file...)."""
        try:
            yield
        except sqlite3.Error as exc:
            problem = catalog_problem(self.path, exc, writing=writing)
            if problem is None:
                raise
            raise problem from None

    def _create_private(self) -> None:
        """The catalog (and so its -wal/-shm, which SQLite gives the same mode) is 0600
        in a 0700 folder, whatever the umask."""
        private_dir(self.path.parent, "catalog folder")
        try:
            os.close(create_file(self.path))
        except FileExistsError:
            if is_link(self.path):
                raise _catalog_is_a_link(self.path) from None
            tighten(self.path)
        except OSError as exc:
            if disk_full(exc):
                raise CatalogFull(self.path) from None
            raise LifeboatError(
                f"cannot create the catalog {self.path}: {exc.strerror or exc}",
                "check that its folder is writable",
            ) from None

    def _connect(self) -> sqlite3.Connection:
        # A link where the catalog is (even a dangling one) is refused, never followed
        # (SQLite would create the catalog wherever it points). The folder is ours (0700).
        if is_link(self.path):
            raise _catalog_is_a_link(self.path)
        db = sqlite3.connect(self.path, timeout=15, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        return db

    def _migrate(self) -> None:
        """Bring the schema up to date. A current catalog is only read, so that commands
        which only read work on a full disk; an upgrade is one write transaction."""
        self._create_private()
        with self._tx(write=False) as db:
            version = user_version(db)
        self._check_not_newer(version)
        if version == SCHEMA_VERSION:
            return
        with self._errors(writing=True), contextlib.closing(self._connect()) as db:
            db.execute("pragma journal_mode=wal")  # outside a transaction, as SQLite needs
        with self._tx() as db:
            version = user_version(db)  # another process may have upgraded it meanwhile
            self._check_not_newer(version)
            for step in range(version, SCHEMA_VERSION):
                _apply(db, _SCHEMA[step])
            if version != SCHEMA_VERSION:
                db.execute(f"pragma user_version={SCHEMA_VERSION}")

    def _check_not_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise LifeboatError(
                f"the catalog {self.path} was written by a newer Lifeboat",
                "upgrade Lifeboat, or run `lifeboat catalog rebuild` to recreate it",
            )


def _insert_copy(db: sqlite3.Connection, snap_id: str, copy: RemoteCopy) -> None:
    db.execute(
        "insert or replace into remote_copies(snapshot_id, remote, key, manifest_key, size,"
        " sha256, encrypted, uploaded_at, proven, proof_failed) values (?,?,?,?,?,?,?,?,?,?)",
        (
            snap_id,
            copy.remote,
            copy.key,
            copy.manifest_key,
            copy.size,
            copy.sha256,
            int(copy.encrypted),
            copy.uploaded_at,
            int(copy.proven),
            copy.proof_failed,
        ),
    )


def _apply(db: sqlite3.Connection, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _catalog_is_a_link(path: Path) -> LifeboatError:
    return LifeboatError(
        f"the catalog {path} is a symbolic link; Lifeboat does not follow it",
        "remove the link, then run `lifeboat catalog rebuild`",
    )
