"""The service's browsing of a backup point, a page of rows at a time (the tray's Browse
window): its tables with their row counts, pages of a table's rows (LIMIT/OFFSET on the
point's pages: never a whole table in memory), a text search across a table's text
columns, one row compared with the live database's, the key `row_history` follows and
the condition a merge restore brings selected rows back with.

A `PointBrowser` keeps one point open (Service.open_point: whatever was fetched or
decrypted for it stays in this run's scratch until `close`) and one read-only query on
it (core/point_query.py, whose authorizer refuses anything that writes). Its methods may
be called from any thread, one at a time (a lock).
"""

from __future__ import annotations

import bisect
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifeboat.foundation.errors import Cancelled, ConfigError, NotFound, OperationFailed

# Imported here for the type checker only; at run time inside the functions that use
# them: they load heavy libraries (zstandard, apsw, APScheduler, numpy) or the jobs,
# which commands such as `lifeboat status` must not pay for at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    from lifeboat.core.history.row_lookup import KeySpec
    from lifeboat.service.point_reading import OpenedPoint, PointLabel

Key = tuple[Any, ...]  # a row's rowid, or its primary key's values


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: object) -> str:
    """`value` as an SQL literal (the point's query takes no bound parameters)."""
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"x'{value.hex()}'"
    if isinstance(value, bool | int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def is_text_type(declared: str) -> bool:
    """A column SQLite gives TEXT affinity, or one declared without a type (any value)."""
    upper = declared.upper()
    return not upper or any(word in upper for word in ("CHAR", "CLOB", "TEXT"))


@dataclass(frozen=True)
class TableInfo:
    """A table of the point: its columns, and how a row is named (`key`: the primary
    key's columns, or () for the rowid)."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    text_columns: tuple[str, ...]
    has_rowid: bool = True  # not a WITHOUT ROWID table

    def search_condition(self, text: str) -> str:
        """Rows whose text columns contain `text` (any case, for ASCII letters)."""
        if not text:
            return "1"
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = literal(f"%{escaped}%")
        if not self.text_columns:
            return "0"
        return " or ".join(f"{quoted(c)} like {pattern} escape '\\'" for c in self.text_columns)

    def key_condition(self, keys: list[Key]) -> str:
        """The rows with these keys, as one SQL condition (the merge's --where)."""
        if not keys:
            raise ConfigError("no rows are selected", "select the rows to bring back")
        if not self.key:
            return "rowid in (" + ", ".join(literal(k[0]) for k in keys) + ")"
        names = ", ".join(quoted(c) for c in self.key)
        values = ", ".join("(" + ", ".join(literal(v) for v in k) + ")" for k in keys)
        return f"({names}) in (values {values})"

    def key_spec(self, key: Key) -> KeySpec:
        """The key as `row_history` takes it."""
        from lifeboat.core.history.row_lookup import KeySpec

        if not self.key:
            return KeySpec(rowid=int(key[0]))
        if any(isinstance(v, bytes) for v in key):
            raise ConfigError("a row whose key holds a BLOB cannot be followed yet", "")
        return KeySpec(values=tuple((c, str(v)) for c, v in zip(self.key, key, strict=True)))


@dataclass(frozen=True)
class RowPage:
    """Rows `offset`… of a table (with a search: of the rows it finds), each with its key."""

    offset: int
    keys: list[Key]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class LiveRow:
    """The live database's row with the same key (`values` None: not there)."""

    columns: tuple[str, ...]
    values: dict[str, Any] | None


def _table_key(info: list[tuple[Any, ...]], without_rowid: bool) -> tuple[str, ...]:
    """The key's columns; () where the rowid names rows (an INTEGER PRIMARY KEY is it)."""
    key = [str(r[1]) for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]
    if without_rowid:
        return tuple(key)
    if len(key) == 1:
        declared = next(str(r[2]) for r in info if r[1] == key[0])
        if declared.upper() == "INTEGER":
            return ()
    return tuple(key)


class RowidPlaces:
    """Where rows of a rowid table (or of a search in it) are: the rowid of rows whose
    place in rowid order is known, and, for a table whose rowids have no holes, its
    first rowid (row n is rowid first + n: any page at once)."""

    def __init__(self) -> None:
        self.dense_from: int | None = None
        self._places: list[int] = []  # sorted
        self._rowids: dict[int, int] = {}

    def learn(self, place: int, rowid: int) -> None:
        if place not in self._rowids:
            bisect.insort(self._places, place)
        self._rowids[place] = rowid

    def start_of(self, offset: int, total: int | None, rowids: str) -> str:
        """An SQL expression for the rowid of row `offset`, given `rowids` (a SELECT of
        the rows' rowids), counting as few rowids as the places known allow."""
        if self.dense_from is not None:
            return str(self.dense_from + offset)
        at = bisect.bisect_left(self._places, offset)
        near: list[tuple[int, int | None]] = [(0, None)]  # (place, rowid): the first row
        if total is not None:
            near.append((total - 1, None))  # the last row
        near += [(p, self._rowids[p]) for p in self._places[max(0, at - 1) : at + 1]]
        place, rowid = min(near, key=lambda n: abs(n[0] - offset))
        if place == offset and rowid is not None:
            return str(rowid)
        if place <= offset:  # count forward from it
            after = "" if rowid is None else f" and rowid > {rowid}"
            skip = offset - place - (0 if rowid is None else 1)
            return f"{rowids}{after} order by rowid limit 1 offset {skip}"
        before = "" if rowid is None else f" and rowid < {rowid}"
        skip = place - offset - (0 if rowid is None else 1)
        return f"{rowids}{before} order by rowid desc limit 1 offset {skip}"


class PointBrowser:
    """One open point of `source`, read a page at a time; close it when done."""

    def __init__(self, point: OpenedPoint, source: str, live: Path | None, busy: float) -> None:
        from lifeboat.core.point_query import PointQuery

        self.point = point
        self.label: PointLabel = point.label
        self.source = source
        self.live_path = live
        self._busy = busy
        self._query = PointQuery(point)
        self._lock = threading.Lock()
        self._tables: dict[str, TableInfo] | None = None
        self._closed = False
        self._counts: dict[tuple[str, str], int] = {}  # (table, search) -> rows
        # (table, search) -> where a rowid table is read by rowid alone (RowidPlaces)
        self._places: dict[tuple[str, str], RowidPlaces] = {}
        self.rows_read = 0  # every row handed out so far (the tests' proof of paging)

    def _rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self._closed:  # work asked for before the window moved on
            raise Cancelled("this point is no longer open", "open it again")
        return list(self._query.run(sql).rows)

    def tables(self) -> list[TableInfo]:
        """The point's tables (not SQLite's own, nor virtual ones), by name."""
        with self._lock:
            if self._tables is None:
                self._tables = {}
                found = self._rows(
                    "select name, sql from sqlite_schema where type = 'table' "
                    "and name not like 'sqlite\\_%' escape '\\' order by name"
                )
                for name, sql in found:
                    text = " ".join(str(sql or "").lower().split())
                    if text.startswith("create virtual"):
                        continue
                    info = self._rows(f"select * from pragma_table_info({literal(name)})")
                    columns = tuple(str(r[1]) for r in info)
                    texts = tuple(str(r[1]) for r in info if is_text_type(str(r[2] or "")))
                    without = "without rowid" in text
                    key = _table_key(info, without)
                    self._tables[name] = TableInfo(name, columns, key, texts, not without)
            return list(self._tables.values())

    def table(self, name: str) -> TableInfo:
        found = {t.name: t for t in self.tables()}.get(name)
        if found is None:
            raise NotFound(f"that point has no table named {name}", "choose another table")
        return found

    def count(self, table: str, search: str = "") -> int:
        info = self.table(table)
        condition = info.search_condition(search)
        with self._lock:
            found = self._rows(f"select count(*) from {quoted(table)} where {condition}")
            total = int(found[0][0])
            self._counts[(table, search)] = total
            places = self._places.setdefault((table, search), RowidPlaces())
            if info.has_rowid and not search and total:
                # Two b-tree descents: whether row n is simply rowid first + n.
                # (one aggregate per SELECT: SQLite scans the table for min and max at once)
                ends = self._rows(
                    f"select (select min(rowid) from {quoted(table)}), "
                    f"(select max(rowid) from {quoted(table)})"
                )
                places.dense_from = ends[0][0] if ends[0][1] - ends[0][0] + 1 == total else None
        return total

    def page(self, table: str, offset: int, limit: int, search: str = "") -> RowPage:
        """At most `limit` rows from `offset`, in the table's own order."""
        info = self.table(table)
        width = len(info.key) or 1
        with self._lock:
            found = self._rows(self._page_sql(info, offset, int(limit), search))
            self.rows_read += len(found)
            if info.has_rowid and found:  # pages near these start from them
                places = self._places.setdefault((table, search), RowidPlaces())
                places.learn(offset, int(found[0][0]))
                places.learn(offset + len(found) - 1, int(found[-1][0]))
        if not info.has_rowid:
            return RowPage(offset, [r[:width] for r in found], [r[width:] for r in found])
        if not info.key:
            return RowPage(offset, [r[:1] for r in found], [r[1:] for r in found])
        return RowPage(offset, [r[1 : 1 + width] for r in found], [r[1 + width :] for r in found])

    def _page_sql(self, info: TableInfo, offset: int, limit: int, search: str) -> str:
        """A page of a rowid table starts at a rowid (OFFSET-free: SQLite descends the
        b-tree to it): rowid first + offset where the table's rowids have no holes, else
        the rowid counted to from the nearest row whose place is known (a page read
        before, or either end), counting rowids (reading pages, not decoding rows)."""
        name, condition = quoted(info.name), info.search_condition(search)
        keys = ", ".join(quoted(c) for c in info.key)
        if not info.has_rowid:
            return f"select {keys}, * from {name} where {condition} limit {limit} offset {offset}"
        head = f"select rowid, {keys + ', ' if keys else ''}* from {name} where ({condition})"
        total = self._counts.get((info.name, search))
        if total is not None and offset >= total:
            return f"{head} limit 0"  # past the end
        places = self._places.get((info.name, search), RowidPlaces())
        start = places.start_of(offset, total, f"select rowid from {name} where ({condition})")
        return f"{head} and rowid >= ({start}) order by rowid limit {limit}"

    def live_row(self, table: str, key: Key) -> LiveRow:
        """The row with `key` in the live database, read-only (it may be changing)."""
        from lifeboat.core.rowmerge import connect_live

        if self.live_path is None:
            raise NotFound(
                f"{self.source} is not backed up from this computer: there is no live "
                "database to compare with",
                "",
            )
        info = self.table(table)
        conn = connect_live(self.live_path, self._busy, read_only=True)
        try:
            return _live_row(conn, info, key)
        except sqlite3.DatabaseError as exc:
            raise OperationFailed(
                f"the live database {self.live_path} could not be read: {exc}",
                "check that the file is there and readable",
            ) from None
        finally:
            conn.close()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._query.close()
            finally:
                self.point.close()


def _live_row(conn: sqlite3.Connection, info: TableInfo, key: Key) -> LiveRow:
    exists = conn.execute(
        "select name from sqlite_master where type = 'table' and name = ? collate nocase",
        (info.name,),
    ).fetchone()
    if exists is None:
        raise NotFound(
            f"the live database has no table {info.name} any more",
            "bringing rows back creates it again with them",
        )
    name = quoted(str(exists[0]))
    columns = tuple(str(r[1]) for r in conn.execute(f"pragma table_info({name})"))
    if info.key:
        condition = " and ".join(f"{quoted(c)} is ?" for c in info.key)
        params: tuple[Any, ...] = tuple(key)
    else:
        condition, params = "rowid = ?", (key[0],)
    cursor = conn.execute(f"select * from {name} where {condition} limit 1", params)
    row = cursor.fetchone()
    names = tuple(d[0] for d in cursor.description)
    return LiveRow(columns, None if row is None else dict(zip(names, row, strict=True)))


def browse_point(
    point: OpenedPoint, source: str, snapshot: str | None, live: Path | None, busy: float
) -> PointBrowser:
    """`point` (snapshot `snapshot` of `source`, or a point of `source`) open for
    browsing until closed (Service.browse_point), beside the live database `live` (None:
    no such source here); `point` is closed if that fails."""
    try:
        if snapshot is not None and point.label.source != source:
            raise ConfigError(
                f"snapshot {snapshot} is of {point.label.source}, not of {source}",
                f"pick a snapshot of {source}",
            )
        return PointBrowser(point, source, live, busy)
    except BaseException:
        point.close()
        raise
