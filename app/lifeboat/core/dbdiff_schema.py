"""What the two databases a restore preview compares hold, read from their schemas.

Both are attached to one connection as `SNAP` (the snapshot's) and `NOW` (the other one,
usually the live database): their tables, columns and schema differences, the key rows
are matched on, row counts, and how SQLite's failures to read them are told apart.
"""

from __future__ import annotations

import sqlite3

from lifeboat.core.dbdiff_records import SchemaDiff

SNAP, NOW = "snap", "now"
_BUILTIN_COLLATIONS = {"BINARY", "NOCASE", "RTRIM"}
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6
# What SQLite says of a name only the application's code defines.
_APP_NAMES = ("no such module", "no such tokenizer")


def table_names(conn: sqlite3.Connection, db: str) -> list[str]:
    rows = conn.execute(
        f"select name, sql from {db}.sqlite_master where type='table' and name not like 'sqlite_%'"
    ).fetchall()
    return [n for n, _ in rows] if rows else []


def virtual_table_names(conn: sqlite3.Connection, db: str) -> set[str]:
    rows = conn.execute(
        f"select name from {db}.sqlite_master where type='table' "
        "and upper(ltrim(coalesce(sql, ''))) like 'CREATE VIRTUAL%'"
    ).fetchall()
    return {str(r[0]) for r in rows}


def schema_diff(conn: sqlite3.Connection) -> SchemaDiff:
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
            old, new = column_names(conn, SNAP, name), column_names(conn, NOW, name)
        except sqlite3.OperationalError as exc:
            if is_busy(exc):
                raise
            continue  # a table SQLite cannot read here: its row says so (dbdiff._table_diff)
        if set(new) - set(old):
            diff.columns_added[name] = sorted(set(new) - set(old))
        if set(old) - set(new):
            diff.columns_removed[name] = sorted(set(old) - set(new))
    return diff


def column_names(conn: sqlite3.Connection, db: str, table: str) -> list[str]:
    return [
        r[1]
        for r in conn.execute(f"pragma {db}.table_xinfo({quote_id(table)})")
        if r[6] in (0, 2, 3)
    ]  # ordinary and generated columns, not hidden ones


def row_key(conn: sqlite3.Connection, name: str) -> tuple[str, list[str]] | str | None:
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
    for index in conn.execute(f"pragma {db}.index_list({quote_id(name)})").fetchall():
        if index[3] == "pk":
            found |= {
                str(c[4]).upper()
                for c in conn.execute(f"pragma {db}.index_xinfo({quote_id(index[1])})")
                if c[5] and c[4]
            }
    return found


def _primary_key(conn: sqlite3.Connection, db: str, name: str) -> list[str]:
    info = conn.execute(f"pragma {db}.table_info({quote_id(name)})").fetchall()
    return [r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]


def row_count(conn: sqlite3.Connection, db: str, name: str) -> int | None:
    return counted(conn, db, name)[0]


def counted(conn: sqlite3.Connection, db: str, name: str) -> tuple[int | None, str | None]:
    """(the table's row count, None) or (None, why it cannot be counted here)."""
    try:
        return int(conn.execute(f"select count(*) from {db}.{quote_id(name)}").fetchone()[0]), None
    except sqlite3.OperationalError as exc:
        if is_busy(exc):
            raise
        return None, reason_of(exc)
    except sqlite3.Error as exc:
        return None, reason_of(exc)


def reason_of(exc: sqlite3.Error) -> str:
    text = str(exc)
    if text.startswith(_APP_NAMES):
        return f"{text}, which the application defines"
    return text


def is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)


def quote_id(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
