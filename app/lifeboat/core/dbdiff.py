"""What a restore would change: compare a snapshot's database with another one.

Both databases are attached to one connection and compared by SQLite itself, table by
table: rows are matched by rowid (by primary key for WITHOUT ROWID tables) and their
common columns compared, so memory stays bounded whatever the size and nothing is
copied into Python. Tables that have neither key (virtual tables) get counts only. A
time budget applies to the whole comparison; a table not finished in time is reported
with counts only and marked partial, never with a wrong exact figure.

A table SQLite cannot read here (a virtual table whose module, or an FTS5 table whose
tokenizer, only the application defines: "no such module", "no such tokenizer"; or any
other failure reading that one table) gets counts where it can be counted, else it is
"not compared here" with the reason; the rest of the database is compared as usual, and
the summary says what was not compared.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lifeboat.core.dbdiff_records import NOT_COMPARED, DatabaseDiff, SchemaDiff, TableDiff
from lifeboat.core.dbdiff_schema import (
    NOW,
    SNAP,
    column_names,
    counted,
    is_busy,
    quote_id,
    reason_of,
    row_count,
    row_key,
    schema_diff,
    table_names,
    virtual_table_names,
)
from lifeboat.core.interval_diff import IntervalsUnproven, compare_intervals
from lifeboat.core.sqlite_file import file_uri, is_damage
from lifeboat.core.standins import StandInConnection
from lifeboat.foundation.errors import SourceBusy
from lifeboat.foundation.progress import CancelToken, Progress, no_progress


def diff_databases(
    snapshot: Path,
    current: Path,
    *,
    budget: float = 30.0,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    unchanged: frozenset[str] = frozenset(),
    current_immutable: bool = False,
    intervals: Mapping[str, Sequence[tuple[int, int]]] | None = None,
    snapshot_counts: Mapping[str, int] | None = None,
    current_state: ProvenState | None = None,
) -> DatabaseDiff:
    """Compare the database `snapshot` (what a restore would bring) with `current`.

    `unchanged`: tables proven to hold the same rows in both (core/preview_pages.py):
    counted in `current` only, never read in `snapshot` (whose file may lack their pages).
    `current_immutable`: read `current`'s file as it is, without locks or its WAL (its
    caller holds it frozen). `intervals`: tables matched on their rowid whose rows can
    differ only within these rowid intervals (core/preview_ranges.py): compared there
    alone (core/interval_diff.py; `snapshot` may hold no other page of them).
    `snapshot_counts`: the row counts of `snapshot`'s tables (its manifest's, taken when
    it was made), so that tables unchanged or compared in intervals are counted on
    neither side. `current_state`: the state of `current` the caller proved things of,
    which the comparison's read must be shown to read (else StateMoved)."""
    cancel = cancel or CancelToken()
    started = time.monotonic()
    deadline = started + budget
    # Stand-ins for the application's collations and functions (core/standins.py), so
    # its tables compare too: a stand-in collation is binary order, which is what a
    # restore changes anyway (bytes), and generated columns computed by a stand-in are
    # NULL on both sides (the columns they are computed from are compared).
    conn = sqlite3.connect(
        ":memory:", isolation_level=None, check_same_thread=False, factory=StandInConnection
    )
    try:
        conn.execute(f"attach database ? as {SNAP}", (file_uri(snapshot, mode="ro"),))
        try:
            params = {"mode": "ro", **({"immutable": "1"} if current_immutable else {})}
            conn.execute(f"attach database ? as {NOW}", (file_uri(current, **params),))
            scope = _Scope(unchanged, intervals or {}, snapshot_counts or {}, current_state)
            return _compare(conn, deadline, started, progress, cancel, scope)
        except sqlite3.DatabaseError as exc:
            if is_busy(exc):
                raise SourceBusy(
                    f"{current} stayed locked by another program; nothing was compared",
                    "retry when the program that writes to it is done",
                ) from None
            if "interrupted" in str(exc):
                raise
            if intervals:  # `snapshot` holds only the pages the intervals need
                raise IntervalsUnproven(str(exc)) from None
            if not _unreadable(conn, exc):
                raise
            # A damaged database is what a restore is for: the preview says what SQLite
            # says of it, and what the snapshot would bring.
            return _snapshot_only(conn, str(exc), started)
    finally:
        conn.close()


def _compare(
    conn: sqlite3.Connection,
    deadline: float,
    started: float,
    progress: Progress,
    cancel: CancelToken,
    scope: _Scope,
) -> DatabaseDiff:
    conn.execute("begin")  # one consistent read of each, also of a live database
    try:
        if scope.state is not None:
            scope.state.begin_read(conn)
        schema = schema_diff(conn)
        names = sorted(set(table_names(conn, SNAP)) | set(table_names(conn, NOW)))
        over = [False]

        def check_time() -> int:
            if time.monotonic() > deadline or cancel.cancelled:
                over[0] = True
                return 1
            return 0

        tables = []
        for number, name in enumerate(names, start=1):
            try:
                if name in scope.unchanged:
                    tables.append(_unchanged_table(conn, name, scope.counts.get(name)))
                elif name in scope.intervals:
                    spans = scope.intervals[name]
                    known = scope.counts.get(name)
                    tables.append(_interval_table(conn, name, spans, known, over, check_time))
                else:
                    tables.append(_table_diff(conn, name, over, deadline, check_time))
            except sqlite3.OperationalError as exc:
                if is_busy(exc) or "interrupted" in str(exc):
                    raise
                # This one table cannot be read here; the others still compare.
                tables.append(_not_compared(conn, name, reason_of(exc)))
                if scope.state is not None and not conn.in_transaction:
                    # SQLite ended the read (an I/O error, a full disk): the others
                    # would read live as it is now, not the state proven
                    raise StateMoved("the comparison's read of live ended") from None
            progress("compare", number, len(names))
        cancel.check()
    finally:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("rollback")
    return DatabaseDiff(tables, schema, any(t.partial for t in tables), time.monotonic() - started)


@dataclass(frozen=True)
class _Scope:
    """What the caller proved: tables unchanged, and where the others can differ."""

    unchanged: frozenset[str]
    intervals: Mapping[str, Sequence[tuple[int, int]]]
    counts: Mapping[str, int]  # the snapshot's row counts, where known
    state: ProvenState | None = None


class StateMoved(Exception):
    """The comparison's read of the live database is not of the state proven."""


@dataclass(frozen=True)
class ProvenState:
    """A state of a WAL database, named by the wal-index header its read began with
    (`header`), and how to read that header now (`read`: None when not settled)."""

    header: bytes
    read: Callable[[], bytes | None]

    def begin_read(self, conn: sqlite3.Connection) -> None:
        """Begin the read of NOW in `conn`'s transaction; StateMoved unless its header
        was the proven one before and after it began (core/live_pass.py says why that
        suffices while the proven read is still held)."""
        before = self.read()
        conn.execute(f"select count(*) from {NOW}.sqlite_schema").fetchone()
        if not (before == self.read() == self.header):
            raise StateMoved("the live database moved on since its pages were compared")


def _interval_table(
    conn: sqlite3.Connection,
    name: str,
    spans: Sequence[tuple[int, int]],
    known: int | None,
    over: list[bool],
    check_time: Callable[[], int],
) -> TableDiff:
    """A table compared only within `spans` (core/interval_diff.py); `known`: the
    snapshot's row count, if known."""
    key = row_key(conn, name)
    how = key[0] if isinstance(key, tuple) else "rowid"
    found = None
    if not over[0] and not check_time():
        found = compare_intervals(conn, name, spans, check_time, known)
    if found is None:  # the snapshot's count would need the comparison itself
        return _out_of_time(name, known, counted(conn, NOW, name)[0], how)
    found.matched_by = how
    return found


def _unreadable(conn: sqlite3.Connection, exc: sqlite3.DatabaseError) -> bool:
    """Whether the failure was the other database's: the snapshot (ours, hash-checked)
    still reads."""
    if not (is_damage(exc) or "unable to open" in str(exc) or "not a database" in str(exc)):
        return False
    try:
        if conn.in_transaction:
            conn.execute("rollback")
        # Virtual tables may need the application's code: not counting them proves
        # nothing about the snapshot.
        virtual = virtual_table_names(conn, SNAP)
        return all(
            row_count(conn, SNAP, name) is not None
            for name in table_names(conn, SNAP)
            if name not in virtual
        )
    except sqlite3.Error:
        return False


def _snapshot_only(conn: sqlite3.Connection, reason: str, started: float) -> DatabaseDiff:
    tables = []
    for name in sorted(table_names(conn, SNAP)):
        rows, why = counted(conn, SNAP, name)
        note = "the other database cannot be read"
        tables.append(
            TableDiff(
                name,
                rows,
                None,
                matched_by="counts only" if why is None else NOT_COMPARED,
                note=note if why is None else f"{note}; not counted here: {why}",
            )
        )
    return DatabaseDiff(tables, SchemaDiff(), False, time.monotonic() - started, unreadable=reason)


def _table_diff(
    conn: sqlite3.Connection,
    name: str,
    over: list[bool],
    deadline: float,
    check_time: Callable[[], int],
) -> TableDiff:
    in_snap = name in table_names(conn, SNAP)
    in_now = name in table_names(conn, NOW)
    rows_snap, why_snap = counted(conn, SNAP, name) if in_snap else (0, None)
    rows_now, why_now = counted(conn, NOW, name) if in_now else (0, None)
    if why_snap is not None or why_now is not None:
        return _not_compared(conn, name, str(why_snap or why_now))
    if not (in_snap and in_now):
        return TableDiff(
            name,
            rows_snap,
            rows_now,
            brought_back=rows_snap or 0,
            removed=rows_now or 0,
            changed=0,
            note="only in the snapshot" if in_snap else "only now",
        )
    key = row_key(conn, name)
    if key is None:
        return TableDiff(
            name,
            rows_snap,
            rows_now,
            matched_by="counts only",
            note="no rowid or primary key to match rows on: counts only",
        )
    if isinstance(key, str):
        return TableDiff(name, rows_snap, rows_now, matched_by="counts only", note=key)
    if over[0] or time.monotonic() > deadline:
        return _out_of_time(name, rows_snap, rows_now, key[0])
    how, columns = key
    return _compare_rows(conn, name, rows_snap, rows_now, how, columns, check_time)


def _unchanged_table(conn: sqlite3.Connection, name: str, known: int | None) -> TableDiff:
    """A table proven to hold the same rows in both: what _table_diff would find, counted
    on the current side alone (unless the snapshot's count is `known`)."""
    rows, why = (known, None) if known is not None else counted(conn, NOW, name)
    if why is not None:  # the same bytes in the snapshot: not countable there either
        note = f"not compared here: {why}"
        return TableDiff(name, None, None, matched_by=NOT_COMPARED, note=note)
    key = row_key(conn, name)
    if key is None:
        note = "no rowid or primary key to match rows on: counts only"
        return TableDiff(name, rows, rows, matched_by="counts only", note=note)
    if isinstance(key, str):
        return TableDiff(name, rows, rows, matched_by="counts only", note=key)
    return TableDiff(name, rows, rows, 0, 0, 0, matched_by=key[0])


def _compare_rows(
    conn: sqlite3.Connection,
    name: str,
    rows_snap: int | None,
    rows_now: int | None,
    how: str,
    columns: list[str],
    check_time: Callable[[], int],
) -> TableDiff:
    """Rows of `name` in both databases, matched on `columns` (the key): how many a
    restore brings back, removes and changes."""
    common = [c for c in column_names(conn, SNAP, name) if c in set(column_names(conn, NOW, name))]
    join = " and ".join(f"s.{quote_id(c)} = n.{quote_id(c)}" for c in columns)
    missing = f"n.{quote_id(columns[0])} is null"  # no row now with the snapshot row's key
    differ = " or ".join(
        f"s.{quote_id(c)} is not n.{quote_id(c)}" for c in common if c not in columns
    )
    # One pass: every snapshot row looks up its partner by key; both are read in key
    # order, so this is a merge of the two b-trees, and rows stay inside SQLite.
    conn.set_progress_handler(check_time, 20_000)
    try:
        back, changed = conn.execute(
            f"select coalesce(sum({missing}), 0), "
            f"coalesce(sum(not ({missing}) and ({differ or '0'})), 0) "
            f"from {SNAP}.{quote_id(name)} s left join {NOW}.{quote_id(name)} n on {join}"
        ).fetchone()
    except sqlite3.DatabaseError as exc:  # also a damaged page in one of them
        if "interrupted" not in str(exc):
            return TableDiff(
                name,
                rows_snap,
                rows_now,
                matched_by="counts only",
                note=f"not comparable here: {exc}",
            )
        return _out_of_time(name, rows_snap, rows_now, how)
    finally:
        conn.set_progress_handler(None, 0)
    assert rows_snap is not None and rows_now is not None  # else not compared (above)
    # Keys are unique on both sides, so the rows now that matched none of the snapshot's
    # are the rest of them.
    gone = rows_now - (rows_snap - int(back))
    return TableDiff(name, rows_snap, rows_now, int(back), gone, int(changed), matched_by=how)


def _out_of_time(name: str, rows_snap: int | None, rows_now: int | None, how: str) -> TableDiff:
    """A table the time budget (or a cancel) left uncompared: its counts, marked partial."""
    return TableDiff(
        name,
        rows_snap,
        rows_now,
        matched_by=how,
        partial=True,
        note="not compared within the time budget: counts only",
    )


def _not_compared(conn: sqlite3.Connection, name: str, reason: str) -> TableDiff:
    """A table that cannot be compared here: its counts where they can be taken."""
    counts = []
    for db in (SNAP, NOW):
        present = name in table_names(conn, db)
        counts.append(counted(conn, db, name)[0] if present else 0)
    if None in counts:
        return TableDiff(
            name, counts[0], counts[1], matched_by=NOT_COMPARED, note=f"not compared here: {reason}"
        )
    return TableDiff(
        name, counts[0], counts[1], matched_by="counts only", note=f"counts only: {reason}"
    )
