"""The catalog's file: created private, its schema brought up to date, and one short
transaction per call, each on a connection of its own (safe across threads and
processes: a busy timeout; WAL mode, or a rollback journal where SQLite has the
WAL-reset bug: catalog_journal.py).

The catalog's parts (catalog_snapshots.py, catalog_history.py, catalog_ledgers.py) build
on `CatalogFile`; catalog.py puts them together as the `Catalog`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

from lifeboat.core.catalog_journal import mode_on_file, settle_mode, wanted_mode
from lifeboat.core.catalog_sqlite import (
    CatalogFull,
    catalog_problem,
    read_connection,
    rollback,
    user_version,
)
from lifeboat.core.private import create_file, disk_full, is_link, private_dir, tighten
from lifeboat.foundation.errors import LifeboatError

SCHEMA_VERSION = 6
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
    # version 6: segments of continuous history on remotes, each recorded once proven
    # (remote/history_upload.py)
    """
    create table segment_copies (
        remote text not null,
        source text not null,
        name text not null,
        base_id text not null,
        level integer not null,
        first_seq integer not null,
        last_seq integer not null,
        last_time_us integer not null,
        end_digest text not null,
        key text not null,
        manifest_key text not null,
        size integer not null,
        sha256 text not null,
        encrypted integer not null,
        uploaded_at text not null,
        primary key (remote, source, name)
    );
    """,
]


class CatalogFile:
    """The catalog's SQLite file at `path`, opened (and migrated) when made."""

    def __init__(self, path: Path, run_token: Callable[[], str | None] | None = None) -> None:
        self.path = Path(path)
        #: the token of this process's run (core/runs.py), recorded with each job
        self._run_token = run_token or (lambda: None)
        self._migrate()

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

    def _connect(self, timeout: float = 15) -> sqlite3.Connection:
        # A link where the catalog is (even a dangling one) is refused, never followed
        # (SQLite would create the catalog wherever it points). The folder is ours (0700).
        if is_link(self.path):
            raise _catalog_is_a_link(self.path)
        db = sqlite3.connect(
            self.path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        db.row_factory = sqlite3.Row
        return db

    def _connect_alone(self) -> sqlite3.Connection:
        """A connection that does not wait: busy at once if another one has the catalog."""
        return self._connect(timeout=0)

    def _migrate(self) -> None:
        """Bring the schema up to date. A current catalog is only read, so that commands
        which only read work on a full disk; an upgrade is one write transaction."""
        self._create_private()
        with self._tx(write=False) as db:
            version = user_version(db)
        self._check_not_newer(version)
        if mode_on_file(self.path) is not None:  # an existing catalog: switched if alone
            settle_mode(self.path, self._connect_alone)
        else:  # made just now
            with self._errors(writing=True), contextlib.closing(self._connect()) as db:
                db.execute(f"pragma journal_mode={wanted_mode()}")  # outside a transaction
        if version == SCHEMA_VERSION:
            return
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


def _apply(db: sqlite3.Connection, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _catalog_is_a_link(path: Path) -> LifeboatError:
    return LifeboatError(
        f"the catalog {path} is a symbolic link; Lifeboat does not follow it",
        "remove the link, then run `lifeboat catalog rebuild`",
    )
