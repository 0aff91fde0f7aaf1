"""What a database holds, in brief: row counts per table and a hash of its schema."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from lifeboat.core.sqlite_file import open_copy


@dataclass(frozen=True)
class Inventory:
    tables: dict[str, int]
    schema_sha256: str

    def to_json(self) -> dict[str, object]:
        return {"tables": dict(self.tables), "schema_sha256": self.schema_sha256}


def schema_hash(conn: sqlite3.Connection) -> str:
    rows = conn.execute(
        "select type, name, tbl_name, coalesce(sql, '') from sqlite_master "
        "where name not like 'sqlite_%' order by type, name"
    ).fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def user_tables(conn: sqlite3.Connection) -> list[str]:
    """Ordinary tables (not views, not SQLite's own, not virtual tables' shadows)."""
    rows = conn.execute(
        "select name, sql from sqlite_master where type='table' and name not "
        "like 'sqlite_%' order by name"
    ).fetchall()
    return [name for name, sql in rows if not (sql or "").upper().startswith("CREATE VIRTUAL")]


def take_inventory(path: Path) -> Inventory:
    """Row counts and schema hash of a standalone copy (read-only). open_copy stands in
    for the application's own collations and functions, should a count need them."""
    conn = open_copy(path)
    try:
        return inventory_of(conn)
    finally:
        conn.close()


def inventory_of(conn: sqlite3.Connection) -> Inventory:
    """Row counts and schema hash of the database `conn` reads (in its transaction, if
    one is open)."""
    tables = {}
    for name in user_tables(conn):
        quoted = '"' + name.replace('"', '""') + '"'
        try:
            tables[name] = int(conn.execute(f"select count(*) from {quoted}").fetchone()[0])
        except sqlite3.Error:
            continue  # a table this SQLite cannot read (an unknown module, say)
    return Inventory(tables, schema_hash(conn))
