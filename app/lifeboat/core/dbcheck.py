"""Integrity checks of standalone database copies (ours, never the live database).

A database whose schema uses the application's own collations or functions is checked
with stand-ins for them (core/standins.py). What then fails only because of a stand-in
(an entry of an index ordered by the application's collation or holding its function's
results, a generated column computed by it) proves nothing about the file: it is listed
in `unchecked`, with the reason, and is no problem. Everything else (the b-tree
structure of every page, the other tables and indexes) is checked as usual, and what
that finds is a real problem.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lifeboat.core.sqlite_file import open_copy
from lifeboat.core.standins import Dependents, StandInConnection, dependents

CHECK_MODES = ("quick", "full")
#: Manifest key: what the snapshot's check could not check, and why (docs/FORMAT.md).
UNCHECKED_KEY = "check_unchecked"
_PRAGMAS = {"quick": "quick_check", "full": "integrity_check"}
_MAX_PROBLEMS = 20
_TABLE_LIMIT = 100  # what SQLite reports at most when checking one table

# Findings about one index's entries (SQLite 3.3x-3.4x wording).
_INDEX_FINDINGS = (
    re.compile(r"^row \d+ missing from index (.+)$"),
    re.compile(r"^wrong # of entries in index (.+)$"),
    re.compile(r"^non-unique entry in UNIQUE index (.+)$"),
)
_NULL_IN = re.compile(r"^NULL value in (.+)\.([^.]+)$")
_CHECK_IN = re.compile(r"^CHECK constraint failed in (.+)$")


@dataclass(frozen=True)
class CheckResult:
    mode: str
    ok: bool
    problems: tuple[str, ...]
    #: what could not be checked, and why: "index notes_title: collation MYCOLL is
    #: defined by the application"
    unchecked: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        if self.ok:
            return "ok"
        more = "" if len(self.problems) < _MAX_PROBLEMS else " ..."
        return "; ".join(self.problems[:3]) + more

    @property
    def described(self) -> str:
        """The summary, with what was not checked: 'ok (not checked: index i: ...)'."""
        return describe(self.summary, self.unchecked)


def recorded_unchecked(extra: Mapping[str, object]) -> list[str]:
    """What a manifest (its `extra`) says its check could not check."""
    value = extra.get(UNCHECKED_KEY)
    return [str(item) for item in value] if isinstance(value, list) else []


def describe(result: str, unchecked: list[str] | tuple[str, ...] | None) -> str:
    """'ok' plus what was not checked, for people: 'ok (not checked: a; b)'."""
    if not unchecked:
        return result
    return f"{result} (not checked: {'; '.join(str(u) for u in unchecked)})"


def check_database(path: Path, mode: str = "quick", mmap_size: int = 0) -> CheckResult:
    """Run `pragma quick_check` (mode quick) or `integrity_check` (mode full)."""
    if mode not in _PRAGMAS:
        raise ValueError(f"unknown check mode {mode!r}")
    try:
        conn = open_copy(path)
    except sqlite3.Error as exc:
        return CheckResult(mode, False, (f"cannot open: {exc}",))
    try:
        conn.execute(f"pragma mmap_size={int(mmap_size)}")
        pragma = _PRAGMAS[mode]
        found, stopped = _findings(conn, f"pragma {pragma}({_MAX_PROBLEMS})", _MAX_PROBLEMS)
        if not conn.stand_ins:
            return CheckResult(mode, not found, tuple(found[:_MAX_PROBLEMS]))
        needs = dependents(conn, conn.stand_ins)
        problems, explained = _split(found, needs)
        unchecked = list(needs.lines())
        if explained and stopped:
            # The limit was spent (partly) on findings the stand-ins cause; what came
            # after them was never looked at. The structure of every page was checked
            # first (SQLite does that before any row), so the rows remain: check them
            # table by table.
            more, cut_short = _table_by_table(conn, pragma, needs)
            problems += more
            unchecked += cut_short
    except sqlite3.DatabaseError as exc:
        return CheckResult(mode, False, (str(exc),))
    finally:
        conn.close()
    problems = list(dict.fromkeys(problems))  # a page's problem may be found twice
    return CheckResult(mode, not problems, tuple(problems[:_MAX_PROBLEMS]), tuple(unchecked))


def _findings(conn: sqlite3.Connection, sql: str, limit: int) -> tuple[list[str], bool]:
    """(what the check found, one line each; whether it stopped at its limit)."""
    rows = [str(r[0]) for r in conn.execute(sql).fetchall()]
    if rows == ["ok"]:
        return [], False
    # SQLite reports a b-tree's problems as one multi-line row under a heading.
    lines = [
        line
        for row in rows
        for line in row.splitlines()
        if line.strip() and not line.startswith("*** in database")
    ]
    return lines, len(rows) >= limit or len(lines) >= limit


def _split(found: list[str], needs: Dependents) -> tuple[list[str], int]:
    """(real problems, how many findings the stand-ins explain)."""
    real = [line for line in found if not _explained(line, needs)]
    return real, len(found) - len(real)


def _explained(line: str, needs: Dependents) -> bool:
    """Whether a finding can only come from a stand-in, never from the file itself."""
    for pattern in _INDEX_FINDINGS:
        match = pattern.match(line)
        if match:
            return match.group(1) in needs.indexes
    match = _NULL_IN.match(line)
    if match:
        table = needs.tables.get(match.group(1))
        return table is not None and match.group(2) in table.generated
    match = _CHECK_IN.match(line)
    if match:
        table = needs.tables.get(match.group(1))
        return table is not None and table.has_check
    return False


def _table_by_table(
    conn: StandInConnection, pragma: str, needs: Dependents
) -> tuple[list[str], list[str]]:
    """Check each table's rows on its own: (real problems, what stayed unchecked)."""
    indexed = {}
    for name, table in conn.execute(
        "select name, tbl_name from sqlite_master where type = 'index'"
    ).fetchall():
        indexed.setdefault(table, []).append(name)
    tables = [
        r[0]
        for r in conn.execute(
            "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'"
        )
    ]
    problems: list[str] = []
    unchecked: list[str] = []
    for table in tables:
        affected = table in needs.tables or any(i in needs.indexes for i in indexed.get(table, ()))
        # An affected table: quick_check leaves out index entries, which are what the
        # stand-ins of its indexes would fill the limit with.
        run = "quick_check" if affected else pragma
        try:
            found, stopped = _findings(conn, f"pragma {run}({_q(table)})", _TABLE_LIMIT)
        except sqlite3.OperationalError as exc:  # a SQLite without per-table checks
            unchecked.append(f"table {table}: its rows could not be checked ({exc})")
            continue
        real, explained = _split(found, needs)
        problems += real
        others = [i for i in indexed.get(table, ()) if i not in needs.indexes]
        if explained and stopped:
            unchecked.append(
                f"table {table}: not every row was checked (what needs "
                "the application fails on too many of them)"
            )
        elif affected and pragma == "integrity_check" and others:
            unchecked.append(
                f"table {table}: the entries of its indexes "
                f"{', '.join(sorted(others))} were not compared with its rows"
            )
    return problems, unchecked


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
