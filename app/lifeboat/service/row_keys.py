"""Which rows a `--where` means: their keys, found at one point (the newest, or `--at`),
for `lifeboat history --where` to follow each one across the points.

The condition runs read-only on that point's pages (core/point_query.py: the
authorizer refuses anything that would write), so a row deleted since is found by
asking at a moment it still existed. A rowid table's rows are named by their rowid; a
WITHOUT ROWID table's by its primary key's columns.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from lifeboat.foundation.errors import ConfigError, NotFound

# Imported here for the type checker only; at run time inside the functions that use
# them: they load heavy libraries (zstandard, apsw, APScheduler, numpy) or the jobs,
# which commands such as `lifeboat status` must not pay for at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    from lifeboat.core.history.row_lookup import KeySpec
    from lifeboat.core.point_query import PointQuery


if TYPE_CHECKING:
    from lifeboat.core.point_pages import PointPages

_HINT = "see `lifeboat history --help`"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _key_columns(query: PointQuery, table: str) -> list[str] | None:
    """The primary key's columns of a WITHOUT ROWID table (None: a rowid table)."""
    found = list(
        query.run(
            f"select sql from sqlite_schema where type = 'table' and name = {_literal(table)}"
        ).rows
    )
    if not found:
        raise NotFound(f"that point has no table named {table}", "check the table's name")
    if "without rowid" not in " ".join(str(found[0][0] or "").lower().split()):
        return None
    info = query.run(f"select name, pk from pragma_table_info({_literal(table)})").rows
    return [name for name, pk in sorted(info, key=lambda r: r[1]) if pk]


def keys_where(pages: PointPages, table: str, where: str, limit: int) -> list[KeySpec]:
    """The keys of the rows of `table` matching `where` at the point `pages`."""
    from lifeboat.core.history.row_lookup import KeySpec
    from lifeboat.core.point_query import PointQuery

    if not where.strip():
        raise ConfigError("--where is empty", _HINT)
    with PointQuery(pages) as query:
        columns = _key_columns(query, table)
        named = "rowid" if columns is None else ", ".join(_quoted(c) for c in columns)
        sql = f"select {named} from {_quoted(table)} where {where} limit {limit + 1}"
        rows = list(query.run(sql).rows)
    if len(rows) > limit:
        raise ConfigError(f"more than {limit} rows match that --where", "narrow it, or give --key")
    if columns is None:
        return [KeySpec(rowid=int(row[0])) for row in rows]
    if any(isinstance(value, bytes) for row in rows for value in row):
        raise ConfigError("a key holding a BLOB cannot be followed yet", "give another --where")
    return [
        KeySpec(values=tuple((c, str(v)) for c, v in zip(columns, row, strict=True)))
        for row in rows
    ]


class RowKeyMethods:
    if TYPE_CHECKING:
        from lifeboat.service.point_reading import OpenedPoint

        def open_point(self, ref: str, at: datetime | None = None) -> OpenedPoint: ...

    def row_keys(
        self, source: str, table: str, where: str, at: datetime | None = None, limit: int = 20
    ) -> list[KeySpec]:
        """The keys of the rows of `table` matching `where` at the newest point (or the
        point at `at`), at most `limit` (more is an error that says to narrow it)."""
        with self.open_point(source, at) as pages:
            return keys_where(pages, table, where, limit)
