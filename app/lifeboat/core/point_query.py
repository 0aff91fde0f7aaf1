"""Read-only SQL over a backup point (`lifeboat query`).

The statement runs on core/point_vfs's connection, which cannot write. On top, an
authorizer allows only what reads: SELECT (with its functions, recursive CTEs and the
tables it reads) and the pragmas that report without changing anything. Whatever else
(INSERT, CREATE, ATTACH, VACUUM INTO, a pragma that sets a value ...) is refused before
it runs, with a one-line reason.

The application's own collations and functions are stood in for the way
core/standins.py does it for sqlite3 (binary order; a function that returns NULL), only
for names the point's schema uses; `QueryResult.stand_ins` says which ones a query used.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import apsw

from lifeboat.core.point_pages import PointPages
from lifeboat.core.point_vfs import PointConnection, open_connection
from lifeboat.core.standins import missing_name, uses_name
from lifeboat.foundation.errors import ConfigError, CorruptSnapshot

_MAX_STAND_INS = 64
#: pragmas that only report (with or without an argument naming a table or index)
READ_PRAGMAS = frozenset(
    """application_id collation_list compile_options database_list encoding
    foreign_key_check foreign_key_list freelist_count function_list index_info index_list
    index_xinfo integrity_check module_list page_count page_size pragma_list quick_check
    schema_version table_info table_list table_xinfo user_version""".split()
)
#: those of them that would set a value when given one
_SETTABLE = frozenset(
    """application_id encoding freelist_count page_count page_size schema_version
    user_version""".split()
)
_ALLOWED = {apsw.SQLITE_SELECT, apsw.SQLITE_READ, apsw.SQLITE_FUNCTION, apsw.SQLITE_RECURSIVE}
_HINT = "write one read-only statement (select ...); the point itself is never changed"
_SQL_HINT = 'check the SQL; "select name, sql from sqlite_schema" lists the point\'s tables'


def _damaged(exc: BaseException) -> CorruptSnapshot:
    return CorruptSnapshot(
        f"the point's database is damaged ({exc})", "query another point or snapshot"
    )


class NotReadOnly(ConfigError):
    """The statement would change something: refused before it runs."""


@dataclass
class QueryResult:
    columns: list[str]
    rows: Iterator[tuple[Any, ...]]
    stand_ins: set[str] = field(default_factory=set)


class PointQuery:
    """A read-only SQL connection on a point's pages (close it before the pages)."""

    def __init__(self, pages: PointPages) -> None:
        self.conn: PointConnection = open_connection(pages)
        self.used: set[str] = set()
        self._refused: str | None = None
        self._schema: str | None = None
        self.conn.authorizer = self._authorize
        self.conn.collation_needed(self._collation_needed)

    def _authorize(self, action: int, one: str | None, two: str | None, *_: object) -> int:
        if action in _ALLOWED:
            return apsw.SQLITE_OK
        pragma = (one or "").lower() if action == apsw.SQLITE_PRAGMA else ""
        if pragma in READ_PRAGMAS and (pragma not in _SETTABLE or two is None):
            return apsw.SQLITE_OK
        what = str(apsw.mapping_authorizer_function.get(action, action)).removeprefix("SQLITE_")
        self._refused = f"{what} {one or ''}".strip().lower()
        return apsw.SQLITE_DENY

    def _schema_sql(self) -> str:
        if self._schema is None:
            rows = self.conn.execute("select sql from sqlite_schema where sql is not null")
            self._schema = "\n".join(str(sql) for (sql,) in rows)
        return self._schema

    def _collation_needed(self, conn: apsw.Connection, name: str) -> None:
        if uses_name(self._schema_sql(), name):
            used = self.used

            def binary(left: str, right: str) -> int:
                used.add(name)
                return (left > right) - (left < right)

            conn.create_collation(name, binary)

    def _stand_in_function(self, message: str) -> bool:
        missing = missing_name(message)
        if missing is None or missing[0] != "function":
            return False
        name = missing[1]
        if not uses_name(self._schema_sql(), name):
            return False
        used = self.used

        def null(*_args: object) -> None:
            used.add(name)

        self.conn.create_scalar_function(name, null, -1, deterministic=True)
        return True

    def run(self, sql: str) -> QueryResult:
        """Run `sql` (read-only); raises NotReadOnly, or ConfigError for SQL that does
        not prepare (one line each)."""
        if not sql.strip():
            raise ConfigError("the query is empty", _HINT)
        for _ in range(_MAX_STAND_INS):
            try:
                return self._run_once(sql)
            except apsw.AuthError:
                refused, self._refused = self._refused, None
                raise NotReadOnly(
                    f"the query is not read-only ({refused or 'it would change something'})",
                    _HINT,
                ) from None
            except apsw.CorruptError as exc:
                raise _damaged(exc) from None
            except apsw.SQLError as exc:
                if not self._stand_in_function(str(exc)):
                    raise ConfigError(f"the query does not run: {exc}", _SQL_HINT) from None
        raise ConfigError("the query needs too many of the application's functions", _HINT)

    def _run_once(self, sql: str) -> QueryResult:
        cursor = self.conn.cursor()
        columns: list[str] = []

        def trace(cur: apsw.Cursor, statement: str, bindings: object) -> bool:
            if not cur.is_readonly:
                self._refused = "it would write"
                raise apsw.AuthError("not read-only")
            columns[:] = [d[0] for d in cur.description]
            return True

        cursor.exec_trace = trace
        rows = cursor.execute(sql)
        first = next(rows, None)  # prepares (and refuses) every statement up to a row

        def all_rows() -> Iterator[tuple[Any, ...]]:
            if first is None:
                return
            yield tuple(first)
            try:
                for row in rows:
                    yield tuple(row)
            except apsw.AuthError:
                raise NotReadOnly(f"the query is not read-only ({self._refused})", _HINT) from None
            except apsw.CorruptError as exc:
                raise _damaged(exc) from None
            except apsw.SQLError as exc:
                raise ConfigError(f"the query does not run: {exc}", _SQL_HINT) from None

        return QueryResult(columns, all_rows(), self.used)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> PointQuery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
