"""A restore preview that decompresses only the pages that differ from the live database.

A full snapshot keeps the xxh3-128 hash of every page (its page-hash list, checked
against the manifest's `pages_sha256`). One read pass over the live database's file hashes
its pages the same way, and the pages whose hashes differ are the only ones a restore
would change. What follows from that, exactly:

- A table whose every page in the live database (its b-tree and overflow pages, as SQLite's
  dbstat lists them) has the snapshot's hash, in a database whose schema rows (names,
  root pages, SQL) are the snapshot's, holds in the snapshot exactly what it holds now:
  both start from the same root page, and each page, identical, points to the same
  children. Its rows are counted once (now) and reported unchanged.
- The snapshot is written to a sparse scratch file holding the pages that differ (from
  the artifact: only the frames that hold them are decompressed, each checked as a
  restore checks it). Each other table matched on its rowid is compared only within the
  rowid intervals its differing pages can hold (core/preview_ranges.py: found by walking
  both b-trees down from the root through the pages that differ, the few snapshot pages
  that needs copied from the live file), and its figures follow from those intervals
  (core/interval_diff.py): the cost is that of the changed pages, not of the table.
- Where a table that differs is not matched on its rowid (WITHOUT ROWID, another primary
  key), or a page is not what that walk expects, the scratch file is filled with every
  other page except those of the unchanged tables, copied from the live file, and the
  other tables are compared row by row as before (core/dbdiff.diff_databases): the
  full comparison's figures either way.
- If the schema rows differ (a table dropped, an index added), the holes are filled from
  the live file too (identical pages: the file is then the whole snapshot) and every table
  is compared: the full comparison, without decompressing what did not change.

The live state compared must stay the one whose pages were read, for as long as the
comparison runs: a WAL database frozen in a read transaction (core/wal_direct.frozen_wal:
on WAL read lock 0 the file alone, read as immutable, no checkpoint can write it
meanwhile; else the frames the app has not copied back read from the WAL where they are,
core/wal_frames.wal_pages, and the comparison's own read of live must begin on the very
wal-index header the freeze began on, dbdiff.ProvenState; later commits stay unseen: the
preview is of that moment), or a rollback-journal database under a read transaction (its
shared lock keeps every writer from writing the file, as the full comparison's read
transaction does). Anything else (a commit between the freeze and the comparison's read,
a hot journal, no page-hash list, a differential, an artifact without a seek table,
another page size, a virtual table) gives None: the caller compares in full. Nothing is
written to the live files: a preview never checkpoints.

What it proves rests on xxh3-128 page hashes agreeing (the differentials already do);
the artifact's whole-file SHA-256 is not computed here (the restore itself proves it).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from lifeboat.core.btree_pages import NotATablePage
from lifeboat.core.dbdiff import ProvenState, StateMoved, diff_databases
from lifeboat.core.dbdiff_records import DatabaseDiff
from lifeboat.core.differing_pages import differing_pages
from lifeboat.core.interval_diff import IntervalsUnproven
from lifeboat.core.kept_descriptors import pinned, unpin
from lifeboat.core.manifest import PAGES_SUFFIX, Manifest
from lifeboat.core.page_bits import PageBits
from lifeboat.core.page_tables import unchanged_tables
from lifeboat.core.pagediff import HASH_SIZE
from lifeboat.core.preview_ranges import IntervalPlan, SnapshotPages, copy_subtree, plan_intervals
from lifeboat.core.seekable import open_seekable
from lifeboat.core.sqlite_file import open_copy
from lifeboat.core.wal_direct import FrozenWal, frozen_wal
from lifeboat.core.wal_frames import index_header
from lifeboat.foundation.progress import CancelToken, Progress

#: how long to wait for the live database's lock (a writer's commit) before comparing in full
_BUSY_SECONDS = 5.0
_COPY_PIECE = 4 << 20  # live pages copied a piece at a time (bounded memory)
_SCHEMA_ROWS = "select type, name, tbl_name, rootpage, sql from sqlite_schema order by 1, 2"


def page_preview(
    snapshot_folder: Path,
    artifact_folder: Path,
    manifest: Manifest,
    live: Path,
    scratch: Path,
    *,
    budget: float,
    progress: Progress,
    cancel: CancelToken,
) -> DatabaseDiff | None:
    """The preview of restoring the full snapshot `manifest` (its artifact in
    `artifact_folder`, its page-hash list in `snapshot_folder`) over `live`, through the
    new sparse file `scratch` (the caller removes it); None when it cannot be proven here.
    Its memory does not grow with the database: sets of pages are bitmaps
    (core/page_bits.py), the page-hash list is read as the live file is."""
    listed = _page_list(snapshot_folder, manifest)
    if listed is None:
        return None
    artifact = open_seekable(artifact_folder / manifest.artifact)
    if artifact is None:
        return None
    with artifact, frozen_file(live, wal_frames=True) as frozen:
        if artifact.entries is None or frozen is None or frozen.page_size != manifest.page_size:
            return None
        names = _table_names(frozen)
        if names is None:
            return None
        differing = differing_pages(frozen, listed, manifest, artifact, scratch, progress, cancel)
        if differing is None:
            return None
        compare = functools.partial(
            diff_databases,
            scratch,
            live,
            budget=budget,
            progress=progress,
            cancel=cancel,
            # the file alone holds the state; else its read must prove it reads it
            current_immutable=frozen.wal_pages is None,
            current_state=None if frozen.wal_pages is None else _state_of(live, frozen),
        )
        plan = _interval_plan(scratch, frozen, manifest, differing, names, cancel)
        if plan is not None:
            try:
                return compare(
                    unchanged=frozenset(plan.unchanged),
                    intervals=plan.intervals,
                    # taken from the snapshot when it was made: no table is counted whole
                    snapshot_counts=manifest.tables or {},
                )
            except IntervalsUnproven:
                pass  # a page the plan lacks: the full comparison below says what is there
            except StateMoved:
                return None
        try:
            return _in_full(compare, scratch, frozen, manifest, differing, names)
        except StateMoved:
            return None


def _in_full(
    compare: Callable[..., DatabaseDiff],
    scratch: Path,
    frozen: FrozenWal,
    manifest: Manifest,
    differing: PageBits,
    names: set[str],
) -> DatabaseDiff | None:
    """Every table compared row by row, but those proven unchanged (core/page_tables.py),
    with every page of the snapshot they read in `scratch`."""
    found = unchanged_tables(frozen.conn, names, differing)
    if found is None:
        return None
    unchanged, holes = found
    _fill_snapshot(scratch, manifest, frozen, differing, holes)
    if _schema_rows(scratch) != frozen.conn.execute(_SCHEMA_ROWS).fetchall():
        _copy_live_pages(scratch, frozen, holes.runs())
        unchanged = set()
    return compare(unchanged=frozenset(unchanged))


def _interval_plan(
    scratch: Path,
    frozen: FrozenWal,
    manifest: Manifest,
    differing: PageBits,
    names: set[str],
    cancel: CancelToken,
) -> IntervalPlan | None:
    """The tables to compare and where (core/preview_ranges.py), the snapshot's pages that
    needs copied into `scratch`; None where the schema rows differ or a page is not what
    the walk expects (then the full comparison)."""
    fd = os.open(scratch, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
    try:
        counts = (manifest.page_count, frozen.page_count)
        pages = SnapshotPages(fd, frozen.page, frozen.page_size, differing, counts, cancel)
        copy_subtree(pages, 1)  # the schema's b-tree, which every query reads
        if _schema_rows(scratch) != frozen.conn.execute(_SCHEMA_ROWS).fetchall():
            return None
        return plan_intervals(frozen.conn, pages, names)
    except NotATablePage:
        return None
    finally:
        os.close(fd)


@contextlib.contextmanager
def frozen_file(
    path: Path, *, checkpoint: bool = False, writes_held: bool = False, wal_frames: bool = False
) -> Iterator[FrozenWal | None]:
    """The live database `path` with a read transaction whose state its file holds and
    keeps holding for the block (see the module's docstring), or None. `checkpoint`:
    WAL frames not yet copied back are copied first (only where Lifeboat is about to
    write the database anyway: wal_direct.frozen_wal; `writes_held`: this process holds
    its write lock meanwhile). `wal_frames`: or read where they are, by a reader that
    reads pages through FrozenWal only (FrozenWal.wal_pages)."""
    with frozen_wal(
        path,
        _BUSY_SECONDS,
        checkpoint=checkpoint,
        writes_held=writes_held,
        wal_frames=wal_frames,
    ) as frozen:
        if frozen is not None:
            yield frozen
            return
    with _frozen_rollback(path) as held:
        yield held


@contextlib.contextmanager
def _frozen_rollback(path: Path) -> Iterator[FrozenWal | None]:
    """A rollback-journal database under a read transaction (its shared lock), or None."""
    try:
        named = os.stat(path)
        conn = open_copy(path)
    except (OSError, sqlite3.Error):
        yield None
        return
    fd = -1
    try:
        frozen = None
        with contextlib.suppress(OSError, sqlite3.Error):
            conn.execute(f"pragma busy_timeout={int(_BUSY_SECONDS * 1000)}")
            if str(conn.execute("pragma journal_mode").fetchone()[0]).lower() != "wal":
                conn.execute("begin")
                conn.execute("select count(*) from sqlite_master").fetchone()
                page_size = int(conn.execute("pragma page_size").fetchone()[0])
                page_count = int(conn.execute("pragma page_count").fetchone()[0])
                fd, identity = pinned(path)
                if identity == (named.st_dev, named.st_ino) and not os.path.lexists(
                    f"{path}-journal"
                ):
                    frozen = FrozenWal(conn, fd, page_size, page_count, time.monotonic())
        yield frozen
    finally:
        with contextlib.suppress(sqlite3.Error):
            if conn.in_transaction:
                conn.execute("rollback")
        conn.close()
        if fd >= 0:  # after the connection: its lock no longer matters
            unpin(fd)


def _page_list(folder: Path, manifest: Manifest) -> Path | None:
    """The full snapshot's page-hash list, if it is here and has its manifest's length
    (its SHA-256 is checked as it is read: core/differing_pages.py)."""
    if manifest.kind != "full" or not manifest.pages_sha256:
        return None
    listed = folder / f"{manifest.stem}{PAGES_SUFFIX}"
    try:
        size = os.stat(listed).st_size
    except OSError:
        return None
    return listed if size == manifest.page_count * HASH_SIZE else None


def page_list(folder: Path, manifest: Manifest) -> bytes | None:
    """The full snapshot's page-hash list read whole, if it is here and matches its
    manifest (the row merge looks pages up in it at random)."""
    listed = _page_list(folder, manifest)
    if listed is None:
        return None
    try:
        data = listed.read_bytes()
    except OSError:
        return None
    if len(data) != manifest.page_count * HASH_SIZE:
        return None
    return data if hashlib.sha256(data).hexdigest() == manifest.pages_sha256 else None


def _table_names(frozen: FrozenWal) -> set[str] | None:
    """The live database's ordinary tables, or None when it has a virtual table (whose
    shadow tables a count reads behind its back)."""
    kinds = frozen.conn.execute(
        "select name, sql like 'create virtual%' from sqlite_schema "
        "where type = 'table' and name not like 'sqlite_%'"
    ).fetchall()
    if any(virtual for _, virtual in kinds):
        return None
    return {str(name) for name, _ in kinds}


def _fill_snapshot(
    dest: Path, manifest: Manifest, frozen: FrozenWal, differing: PageBits, holes: PageBits
) -> None:
    """Every page of the snapshot but the `holes` in `dest`: the ones that do not differ
    copied from the live file."""
    common = PageBits.span(1, min(frozen.page_count, manifest.page_count), differing.limit)
    _copy_live_pages(dest, frozen, common.minus(differing).minus(holes).runs())


def _copy_live_pages(dest: Path, frozen: FrozenWal, runs: Iterable[tuple[int, int]]) -> None:
    """Copy the `runs` of pages (first page, count; increasing) of the frozen live state
    into `dest`, a bounded piece at a time."""
    size = frozen.page_size
    most = max(1, _COPY_PIECE // size)
    fd = os.open(dest, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        for first, count in runs:
            for at in range(first, first + count, most):
                want = min(most, first + count - at)
                os.pwrite(fd, frozen.piece((at - 1) * size, want * size), (at - 1) * size)
    finally:
        os.close(fd)


def _state_of(live: Path, frozen: FrozenWal) -> ProvenState:
    """What a read of `live` must find to read the frozen state: the wal-index header
    the frozen read transaction began with (core/live_pass.py says why that suffices
    while both are held)."""
    return ProvenState(frozen.index_header, lambda: index_header(live))


def _schema_rows(path: Path) -> list[tuple[object, ...]]:
    conn = open_copy(path)
    try:
        return conn.execute(_SCHEMA_ROWS).fetchall()
    finally:
        conn.close()
