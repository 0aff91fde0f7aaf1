"""Stand-ins for the collations and functions an application defines for its database.

An application may register its own collation (`create index i on t(title collate MYCOLL)`)
or function (`create index j on t(myfn(b))`, a CHECK or a generated column using it).
SQLite stores only the name; without the application's code it cannot compare with that
collation or call that function, so `pragma quick_check`, `select *` and the like fail
with "no such collation sequence: MYCOLL" or "unknown function: myfn()". The database is
healthy: only the code is missing.

`StandInConnection` (the connection every read of our copies uses) registers a stand-in
the moment SQLite reports such a name, and only for names the database's own schema
uses (a typo in a user's query stays an error). The stand-ins are chosen so that
whatever does not depend on them is checked exactly as before:

- a collation becomes plain binary order (what SQLite itself uses by default);
- a function returns NULL, whatever its arguments (deterministic, as the schema needs).

Whatever does depend on them (an index ordered by the collation, an index on the
function's results, a CHECK or a generated column using it) cannot be checked without
the application: `dependents` says which objects those are, so that a check can list
them as "not checked" instead of calling the database damaged. Likewise a search through
an index ordered by the application's collation goes wrong under the stand-in's order:
readers must not rely on one (the restore preview does not match rows on such a key),
and `StandIns.used` tells a query that used a stand-in.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import SupportsLenAndGetItem

    # What sqlite3 takes as a statement's parameters (as its stubs spell it).
    Parameters = SupportsLenAndGetItem[Any] | Mapping[str, Any]

_MAX_STAND_INS = 64  # far more than any real schema; a bound against a retry loop
_UNKNOWN_FUNCTION = re.compile(r"(?:unknown|no such) function: ([^\s()]+)")
_UNKNOWN_COLLATION = re.compile(r"no such collation sequence: (\S+)")


def missing_name(message: str) -> tuple[str, str] | None:
    """("function" or "collation", name) of what an SQLite error says is missing, or
    None (for readers that are not a StandInConnection, e.g. an apsw connection)."""
    function = _UNKNOWN_FUNCTION.search(message)
    if function is not None:
        return "function", function.group(1)
    collation = _UNKNOWN_COLLATION.search(message)
    return ("collation", collation.group(1)) if collation is not None else None


def uses_name(schema_sql: str, name: str) -> bool:
    """Whether `schema_sql` (a schema's CREATE statements) names `name` as a word."""
    pattern = re.compile(rf"(?<![\w$]){re.escape(name)}(?![\w$])", re.IGNORECASE)
    return pattern.search(schema_sql) is not None


@dataclass
class StandIns:
    """What one connection stands in for (names as the schema spells them)."""

    functions: set[str] = field(default_factory=set)
    collations: set[str] = field(default_factory=set)
    used: set[str] = field(default_factory=set)  # the ones called at least once

    def __bool__(self) -> bool:
        return bool(self.functions or self.collations)


class StandInConnection(sqlite3.Connection):
    """A connection that stands in for the application's collations and functions.

    Use it as `sqlite3.connect(..., factory=StandInConnection)`. Only `execute` stands
    in (SQLite reports unknown names when it prepares a statement, before any row is
    read, so preparing again once the stand-in exists is safe).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Passed on as sqlite3.connect gives them (checked against its signature there).
        super().__init__(*args, **kwargs)
        self.stand_ins = StandIns()

    def execute(self, sql: str, parameters: Parameters = (), /) -> sqlite3.Cursor:
        for _ in range(_MAX_STAND_INS):
            try:
                return super().execute(sql, parameters)
            except sqlite3.OperationalError as exc:
                if not self._stand_in_for(str(exc)):
                    raise
        return super().execute(sql, parameters)

    def _stand_in_for(self, message: str) -> bool:
        """Register a stand-in for the name SQLite just reported; False if it reported
        none, or a name the schema does not use (then the error stands)."""
        function = _UNKNOWN_FUNCTION.search(message)
        collation = _UNKNOWN_COLLATION.search(message)
        found = function or collation
        name = found.group(1) if found is not None else None
        if name is None or not self._schema_uses(name):
            return False
        if function:
            if name.lower() in {n.lower() for n in self.stand_ins.functions}:
                return False  # already there: the error is about something else
            used = self.stand_ins.used

            def null(*_args: object) -> None:
                used.add(name)

            self.create_function(name, -1, null, deterministic=True)
            self.stand_ins.functions.add(name)
        else:
            if name.lower() in {n.lower() for n in self.stand_ins.collations}:
                return False
            used = self.stand_ins.used

            def binary(left: str, right: str) -> int:
                used.add(name)
                # Code point order of Python strings is the byte order of their UTF-8:
                # SQLite's own BINARY.
                return (left > right) - (left < right)

            self.create_collation(name, binary)
            self.stand_ins.collations.add(name)
        return True

    def _schema_uses(self, name: str) -> bool:
        pattern = re.compile(rf"(?<![\w$]){re.escape(name)}(?![\w$])", re.IGNORECASE)
        for row in super().execute("pragma database_list").fetchall():
            schema = '"' + str(row[1]).replace('"', '""') + '"'
            table = "sqlite_temp_master" if row[1] == "temp" else f"{schema}.sqlite_master"
            for (sql,) in super().execute(f"select sql from {table} where sql is not null"):
                if pattern.search(sql):
                    return True
        return False


@dataclass(frozen=True)
class TableNeeds:
    """What of a table's own checks needs the application's code."""

    why: str  # "function myfn" / "collation MYCOLL"
    has_check: bool
    generated: frozenset[str]  # its generated columns


@dataclass(frozen=True)
class Dependents:
    """Objects whose checks need the application's own code, each with the reason."""

    indexes: dict[str, str]  # index name -> "function myfn" / "collation MYCOLL"
    tables: dict[str, TableNeeds]

    def __bool__(self) -> bool:
        return bool(self.indexes or self.tables)

    def lines(self) -> tuple[str, ...]:
        """What could not be checked and why, one line per object."""
        out = [
            f"index {name}: {why} is defined by the application"
            for name, why in sorted(self.indexes.items())
        ]
        for name, needs in sorted(self.tables.items()):
            parts = ["its CHECK constraints"] if needs.has_check else []
            if needs.generated:
                columns = "columns" if len(needs.generated) > 1 else "column"
                parts.append(f"generated {columns} {', '.join(sorted(needs.generated))}")
            verb = "use" if needs.has_check or len(needs.generated) > 1 else "uses"
            out.append(
                f"table {name}: {' and '.join(parts)} {verb} {needs.why}, defined "
                "by the application"
            )
        return tuple(out)


def dependents(conn: sqlite3.Connection, stand_ins: StandIns, schema: str = "main") -> Dependents:
    """Which indexes and tables of `schema` depend on the stand-ins of `conn`."""
    if not stand_ins:
        return Dependents({}, {})
    db = _q(schema)
    patterns = [
        (f"function {n}", re.compile(rf"(?<![\w$]){re.escape(n)}\s*\(", re.I))
        for n in sorted(stand_ins.functions)
    ]
    patterns += [
        (f"collation {n}", re.compile(rf"\bcollate\s+[\"'`\[]?{re.escape(n)}(?![\w$])", re.I))
        for n in sorted(stand_ins.collations)
    ]
    by_collation = {n.lower(): f"collation {n}" for n in stand_ins.collations}

    def uses(sql: str) -> list[str]:
        return [why for why, pattern in patterns if pattern.search(sql)]

    rows = conn.execute(
        f"select type, name, tbl_name, coalesce(sql, '') from {db}."
        "sqlite_master where type in ('table', 'index')"
    ).fetchall()
    tables: dict[str, TableNeeds] = {}
    for kind, name, _, sql in rows:
        reasons = uses(sql) if kind == "table" else []
        if not reasons:
            continue
        columns = conn.execute(f"pragma {db}.table_xinfo({_q(name)})").fetchall()
        generated = [c[1] for c in columns if c[6] in (2, 3)]
        needs = TableNeeds(
            ", ".join(reasons),
            any(uses(clause) for clause in _check_clauses(sql)),
            frozenset(c for c in generated if _computes_with(conn, db, name, c, stand_ins)),
        )
        if needs.has_check or needs.generated:
            tables[name] = needs
    indexes: dict[str, str] = {}
    for kind, name, table, sql in rows:
        if kind != "index":
            continue
        reasons = uses(sql)
        for column in conn.execute(f"pragma {db}.index_xinfo({_q(name)})").fetchall():
            collation = by_collation.get(str(column[4]).lower())
            if collation and column[5] and collation not in reasons:
                reasons.append(collation)  # a key column ordered by the app's collation
            computed = tables.get(table)
            if computed and column[2] in computed.generated:  # a generated column it computes
                reasons += [r for r in computed.why.split(", ") if r not in reasons]
        if reasons:
            indexes[name] = ", ".join(reasons)
    return Dependents(indexes, tables)


def _check_clauses(sql: str) -> list[str]:
    """The text of each CHECK (...) clause of a CREATE TABLE statement."""
    clauses = []
    for match in re.finditer(r"\bcheck\s*\(", sql, re.I):
        depth, quote, end = 1, "", match.end()
        while end < len(sql) and depth:
            char = sql[end]
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"`[":
                quote = "]" if char == "[" else char
            else:
                depth += {"(": 1, ")": -1}.get(char, 0)
            end += 1
        clauses.append(sql[match.end() : end - 1])
    return clauses


def _computes_with(
    conn: sqlite3.Connection, db: str, table: str, column: str, stand_ins: StandIns
) -> bool:
    """Whether reading the generated `column` calls a stand-in: its compiled program
    names the function ("myfn(1)") or the collation ("MYCOLL-8") it uses."""
    names = "|".join(re.escape(n) for n in stand_ins.functions | stand_ins.collations)
    pattern = re.compile(rf"(?<![\w$])(?:{names})(?=[-()])", re.I)
    try:
        program = conn.execute(f"explain select {_q(column)} from {db}.{_q(table)}")
        return any(pattern.match(str(row[5] or "")) for row in program)
    except sqlite3.Error:
        return True  # cannot tell: count it as needing the application


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
