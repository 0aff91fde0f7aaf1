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
from dataclasses import dataclass, field
from pathlib import Path

from lifeboat.core.sqlite_file import file_uri, is_damage
from lifeboat.core.standins import StandInConnection
from lifeboat.foundation.errors import SourceBusy
from lifeboat.foundation.progress import CancelToken, Progress, no_progress

SNAP, NOW = "snap", "now"
#: `TableDiff.matched_by` of a table SQLite could not read here (no counts either)
NOT_COMPARED = "not compared"
_BUILTIN_COLLATIONS = {"BINARY", "NOCASE", "RTRIM"}
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6
# What SQLite says of a name only the application's code defines.
_APP_NAMES = ("no such module", "no such tokenizer")


@dataclass
class TableDiff:
    name: str
    rows_snapshot: int | None
    rows_now: int | None
    brought_back: int | None = None  # in the snapshot, not now: a restore brings them back
    removed: int | None = None  # now, not in the snapshot: a restore removes them
    changed: int | None = None  # in both, with other values
    matched_by: str = "rowid"  # rowid | primary key | counts only | not compared
    partial: bool = False
    note: str | None = None

    @property
    def differs(self) -> bool:
        return (
            bool(self.brought_back or self.removed or self.changed)
            or self.rows_snapshot != self.rows_now
        )

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass
class SchemaDiff:
    added: list[str] = field(default_factory=list)  # "table notes2", "index i" (now only)
    removed: list[str] = field(default_factory=list)  # in the snapshot only
    columns_added: dict[str, list[str]] = field(default_factory=dict)
    columns_removed: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass
class DatabaseDiff:
    tables: list[TableDiff]
    schema: SchemaDiff
    partial: bool
    seconds: float
    #: why SQLite cannot read the other database (then only the snapshot is described)
    unreadable: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "tables": [t.to_json() for t in self.tables],
            "schema": self.schema.to_json(),
            "partial": self.partial,
            "seconds": round(self.seconds, 3),
            "unreadable": self.unreadable,
        }


def diff_databases(
    snapshot: Path,
    current: Path,
    *,
    budget: float = 30.0,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
) -> DatabaseDiff:
    """Compare the database `snapshot` (what a restore would bring) with `current`."""
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
            conn.execute(f"attach database ? as {NOW}", (file_uri(current, mode="ro"),))
            return _compare(conn, deadline, started, progress, cancel)
        except sqlite3.DatabaseError as exc:
            if _busy(exc):
                raise SourceBusy(
                    f"{current} stayed locked by another program; nothing was compared",
                    "retry when the program that writes to it is done",
                ) from None
            if "interrupted" in str(exc) or not _unreadable(conn, exc):
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
) -> DatabaseDiff:
    conn.execute("begin")  # one consistent read of each, also of a live database
    try:
        schema = _schema_diff(conn)
        names = sorted(set(_tables(conn, SNAP)) | set(_tables(conn, NOW)))
        over = [False]

        def check_time() -> int:
            if time.monotonic() > deadline or cancel.cancelled:
                over[0] = True
                return 1
            return 0

        tables = []
        for number, name in enumerate(names, start=1):
            try:
                tables.append(_table_diff(conn, name, over, deadline, check_time))
            except sqlite3.OperationalError as exc:
                if _busy(exc) or "interrupted" in str(exc):
                    raise
                # This one table cannot be read here; the others still compare.
                tables.append(_not_compared(conn, name, _reason(exc)))
            progress("compare", number, len(names))
        cancel.check()
    finally:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("rollback")
    return DatabaseDiff(tables, schema, any(t.partial for t in tables), time.monotonic() - started)


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
        virtual = _virtual_tables(conn, SNAP)
        return all(
            _count(conn, SNAP, name) is not None
            for name in _tables(conn, SNAP)
            if name not in virtual
        )
    except sqlite3.Error:
        return False


def _snapshot_only(conn: sqlite3.Connection, reason: str, started: float) -> DatabaseDiff:
    tables = []
    for name in sorted(_tables(conn, SNAP)):
        rows, why = _counted(conn, SNAP, name)
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


def _tables(conn: sqlite3.Connection, db: str) -> list[str]:
    rows = conn.execute(
        f"select name, sql from {db}.sqlite_master where type='table' and name not like 'sqlite_%'"
    ).fetchall()
    return [n for n, _ in rows] if rows else []


def _virtual_tables(conn: sqlite3.Connection, db: str) -> set[str]:
    rows = conn.execute(
        f"select name from {db}.sqlite_master where type='table' "
        "and upper(ltrim(coalesce(sql, ''))) like 'CREATE VIRTUAL%'"
    ).fetchall()
    return {str(r[0]) for r in rows}


def _schema_diff(conn: sqlite3.Connection) -> SchemaDiff:
    def objects(db: str) -> dict[tuple[str, str], str]:
        rows = conn.execute(
            f"select type, name, coalesce(sql, '') from {db}.sqlite_master "
            "where name not like 'sqlite_%'"
        ).fetchall()
        return {(t, n): s for t, n, s in rows}

    before, after = objects(SNAP), objects(NOW)
    diff = SchemaDiff(
        added=sorted(f"{t} {n}" for t, n in after.keys() - before.keys()),
        removed=sorted(f"{t} {n}" for t, n in before.keys() - after.keys()),
    )
    for kind, name in before.keys() & after.keys():
        if kind != "table":
            continue
        try:
            old, new = _columns(conn, SNAP, name), _columns(conn, NOW, name)
        except sqlite3.OperationalError as exc:
            if _busy(exc):
                raise
            continue  # a table SQLite cannot read here: its row says so (_table_diff)
        if set(new) - set(old):
            diff.columns_added[name] = sorted(set(new) - set(old))
        if set(old) - set(new):
            diff.columns_removed[name] = sorted(set(old) - set(new))
    return diff


def _columns(conn: sqlite3.Connection, db: str, table: str) -> list[str]:
    return [
        r[1] for r in conn.execute(f"pragma {db}.table_xinfo({_q(table)})") if r[6] in (0, 2, 3)
    ]  # ordinary and generated columns, not hidden ones


def _table_diff(
    conn: sqlite3.Connection, name: str, over: list[bool], deadline: float, check_time: object
) -> TableDiff:
    in_snap = name in _tables(conn, SNAP)
    in_now = name in _tables(conn, NOW)
    rows_snap, why_snap = _counted(conn, SNAP, name) if in_snap else (0, None)
    rows_now, why_now = _counted(conn, NOW, name) if in_now else (0, None)
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
    key = _key(conn, name)
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
        return TableDiff(
            name,
            rows_snap,
            rows_now,
            matched_by=key[0],
            partial=True,
            note="not compared within the time budget: counts only",
        )
    how, columns = key
    common = [c for c in _columns(conn, SNAP, name) if c in set(_columns(conn, NOW, name))]
    join = " and ".join(f"s.{_q(c)} = n.{_q(c)}" for c in columns)
    missing = f"n.{_q(columns[0])} is null"  # no row now with the snapshot row's key
    differ = " or ".join(f"s.{_q(c)} is not n.{_q(c)}" for c in common if c not in columns)
    # One pass: every snapshot row looks up its partner by key; both are read in key
    # order, so this is a merge of the two b-trees, and rows stay inside SQLite.
    conn.set_progress_handler(check_time, 20_000)  # type: ignore[arg-type]
    try:
        back, changed = conn.execute(
            f"select coalesce(sum({missing}), 0), "
            f"coalesce(sum(not ({missing}) and ({differ or '0'})), 0) "
            f"from {SNAP}.{_q(name)} s left join {NOW}.{_q(name)} n on {join}"
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
        return TableDiff(
            name,
            rows_snap,
            rows_now,
            matched_by=how,
            partial=True,
            note="not compared within the time budget: counts only",
        )
    finally:
        conn.set_progress_handler(None, 0)
    assert rows_snap is not None and rows_now is not None  # else not compared (above)
    # Keys are unique on both sides, so the rows now that matched none of the snapshot's
    # are the rest of them.
    gone = rows_now - (rows_snap - int(back))
    return TableDiff(name, rows_snap, rows_now, int(back), gone, int(changed), matched_by=how)


def _key(conn: sqlite3.Connection, name: str) -> tuple[str, list[str]] | str | None:
    """How rows of `name` are matched: by its declared primary key where it has one
    (the same in both), else by rowid; None when neither works (virtual tables), or
    why not (a key ordered by the application's own collation)."""
    without_rowid = {}
    for db in (SNAP, NOW):
        sql = (
            conn.execute(
                f"select coalesce(sql, '') from {db}.sqlite_master where type='table' and name=?",
                (name,),
            )
            .fetchone()[0]
            .upper()
        )
        if sql.startswith("CREATE VIRTUAL"):
            return None
        without_rowid[db] = "WITHOUT ROWID" in " ".join(sql.split())
    keys = [_primary_key(conn, db, name) for db in (SNAP, NOW)]
    # A key index ordered by the application's collation is searched in the stand-in's
    # (binary) order here, which finds the wrong rows or none: never match on it.
    app_order = sorted(
        {c for db in (SNAP, NOW) for c in _key_collations(conn, db, name)} - _BUILTIN_COLLATIONS
    )
    if app_order and any(without_rowid.values()):
        return (
            f"its key is ordered by collation {', '.join(app_order)}, defined by the "
            "application: counts only"
        )
    if keys[0] and keys[0] == keys[1] and not app_order:
        # VACUUM renumbers the rowids of tables without an INTEGER PRIMARY KEY, so a
        # declared key is the better match wherever there is one.
        return "primary key", keys[0]
    if not any(without_rowid.values()):
        return "rowid", ["rowid"]
    return None  # keys changed, or rowid in one and not the other: nothing to match on


def _key_collations(conn: sqlite3.Connection, db: str, name: str) -> set[str]:
    """The collations (upper case) of the index that holds `name`'s declared key."""
    found = set()
    for index in conn.execute(f"pragma {db}.index_list({_q(name)})").fetchall():
        if index[3] == "pk":
            found |= {
                str(c[4]).upper()
                for c in conn.execute(f"pragma {db}.index_xinfo({_q(index[1])})")
                if c[5] and c[4]
            }
    return found


def _primary_key(conn: sqlite3.Connection, db: str, name: str) -> list[str]:
    info = conn.execute(f"pragma {db}.table_info({_q(name)})").fetchall()
    return [r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]


def _count(conn: sqlite3.Connection, db: str, name: str) -> int | None:
    return _counted(conn, db, name)[0]


def _counted(conn: sqlite3.Connection, db: str, name: str) -> tuple[int | None, str | None]:
    """(the table's row count, None) or (None, why it cannot be counted here)."""
    try:
        return int(conn.execute(f"select count(*) from {db}.{_q(name)}").fetchone()[0]), None
    except sqlite3.OperationalError as exc:
        if _busy(exc):
            raise
        return None, _reason(exc)
    except sqlite3.Error as exc:
        return None, _reason(exc)


def _not_compared(conn: sqlite3.Connection, name: str, reason: str) -> TableDiff:
    """A table that cannot be compared here: its counts where they can be taken."""
    counts = []
    for db in (SNAP, NOW):
        present = name in _tables(conn, db)
        counts.append(_counted(conn, db, name)[0] if present else 0)
    if None in counts:
        return TableDiff(
            name, counts[0], counts[1], matched_by=NOT_COMPARED, note=f"not compared here: {reason}"
        )
    return TableDiff(
        name, counts[0], counts[1], matched_by="counts only", note=f"counts only: {reason}"
    )


def _reason(exc: sqlite3.Error) -> str:
    text = str(exc)
    if text.startswith(_APP_NAMES):
        return f"{text}, which the application defines"
    return text


def _busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def summarize(diff: DatabaseDiff, table_limit: int = 4) -> str:
    """One paragraph: what restoring the snapshot over the other database would do."""
    parts: list[str] = []
    uncompared = [t for t in diff.tables if t.matched_by == NOT_COMPARED]
    changed = [t for t in diff.tables if t.differs and t.matched_by != NOT_COMPARED]
    for table in changed[:table_limit]:
        bits = []
        if table.note in ("only in the snapshot", "only now"):
            continue
        if table.brought_back:
            bits.append(f"brings back {_rows(table.brought_back)}")
        if table.removed:
            bits.append(f"removes {_rows(table.removed)} added since")
        if table.changed:
            bits.append(f"changes {_rows(table.changed)}")
        if table.partial or table.matched_by == "counts only":
            bits.append(
                f"goes from {_n(table.rows_now)} to {_n(table.rows_snapshot)} rows "
                "(not compared row by row)"
            )
        if bits:
            parts.append(f"{', '.join(bits)} in {table.name}")
    if len(changed) > table_limit:
        parts.append(f"changes {len(changed) - table_limit} more table(s)")
    for item in diff.schema.added:
        parts.append(f"drops {item} (created since)")
    for item in diff.schema.removed:
        parts.append(f"brings back {item}")
    for name, columns in diff.schema.columns_added.items():
        parts.append(f"drops column(s) {', '.join(columns)} of {name}")
    for name, columns in diff.schema.columns_removed.items():
        parts.append(f"brings back column(s) {', '.join(columns)} of {name}")
    if diff.unreadable is not None:
        rows = sum(t.rows_snapshot or 0 for t in diff.tables)
        return (
            f"SQLite cannot read the database there ({diff.unreadable}): restoring "
            f"replaces all of it with the snapshot's {len(diff.tables)} table(s) and "
            f"{_rows(rows)}."
        )
    if not parts:
        text = (
            "Restoring changes nothing in the tables compared."
            if uncompared
            else "Restoring changes nothing: the data are the same."
        )
    else:
        text = "Restoring " + "; ".join(parts) + "."
    if diff.partial:
        text += " (Some tables were too large to compare in the time given: counts only.)"
    if uncompared:
        text += " Not compared here: " + "; ".join(_why_not(t) for t in uncompared) + "."
    return text


def _why_not(table: TableDiff) -> str:
    reason = (table.note or "").removeprefix("not compared here: ")
    return f"{table.name} ({reason})" if reason else table.name


def _n(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _rows(count: int) -> str:
    return f"{count:,} row" if count == 1 else f"{count:,} rows"
