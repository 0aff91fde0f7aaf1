"""Integrity checks of standalone database copies (ours, never the live database).

A database whose schema uses the application's own collations or functions is checked
with stand-ins for them (core/standins.py). What then fails only because of a stand-in
(an entry of an index ordered by the application's collation or holding its function's
results, a generated column computed by it) proves nothing about the file: it is listed
in `unchecked`, with the reason, and is no problem. Everything else (the b-tree
structure of every page, the other tables and indexes) is checked as usual, and what
that finds is a real problem.

Only proven damage makes a check fail: findings of the integrity check, and SQLite
reporting the file corrupt (SQLITE_CORRUPT) or not a database (SQLITE_NOTADB). When
SQLite fails for another reason (locked, busy, an I/O error, out of memory, a full disk,
the file cannot be opened), nothing is known about the file: OperationFailed says why.
"""

from __future__ import annotations

import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from lifeboat.core.manifest import UNCHECKED_KEY as MANIFEST_UNCHECKED_KEY
from lifeboat.core.manifest import recorded_unchecked as recorded_unchecked  # re-exported
from lifeboat.core.sqlite_file import open_copy
from lifeboat.core.standins import Dependents, StandInConnection, dependents
from lifeboat.foundation.errors import OperationFailed

#: Manifest key: what the snapshot's check could not check, and why (docs/FORMAT.md).
#: Defined with the manifest, which the catalog's listing reads it from without loading
#: this module (and SQLite's stand-ins) at every start (tests/test_startup_imports.py).
UNCHECKED_KEY = MANIFEST_UNCHECKED_KEY
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
# SQLite's primary result codes (CORRUPT and NOTADB are the ones that prove damage)
_SQLITE_ERROR = 1
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
_SQLITE_FULL = 13


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


def describe(result: str, unchecked: list[str] | tuple[str, ...] | None) -> str:
    """'ok' plus what was not checked, for people: 'ok (not checked: a; b)'."""
    if not unchecked:
        return result
    return f"{result} (not checked: {'; '.join(str(u) for u in unchecked)})"


def check_database(path: Path, mode: str = "quick", mmap_size: int = 0) -> CheckResult:
    """Run `pragma quick_check` (mode quick) or `integrity_check` (mode full).

    Raises OperationFailed when SQLite fails for a reason other than damage."""
    if mode not in _PRAGMAS:
        raise ValueError(f"unknown check mode {mode!r}")
    try:
        conn = open_copy(path)
    except sqlite3.Error as exc:
        raise _not_checked(path, exc) from None
    try:
        conn.execute(f"pragma mmap_size={int(mmap_size)}")
        return check_connection(conn, mode, path)
    except sqlite3.Error as exc:
        raise _not_checked(path, exc) from None
    except MemoryError:
        raise _out_of_memory(path) from None
    finally:
        conn.close()


def check_connection(conn: StandInConnection, mode: str, path: Path) -> CheckResult:
    """check_database's check of the database `conn` reads (`path`), in its transaction
    if one is open: a snapshot's check of the very state it packs."""
    if mode not in _PRAGMAS:
        raise ValueError(f"unknown check mode {mode!r}")
    try:
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
    except sqlite3.Error as exc:
        if not is_damage_code(exc):
            raise _not_checked(path, exc) from None
        return CheckResult(mode, False, (str(exc),))
    except MemoryError:  # Python's sqlite3 raises SQLITE_NOMEM as MemoryError
        raise _out_of_memory(path) from None
    problems = list(dict.fromkeys(problems))  # a page's problem may be found twice
    return CheckResult(mode, not problems, tuple(problems[:_MAX_PROBLEMS]), tuple(unchecked))


def is_damage_code(exc: sqlite3.Error) -> bool:
    """Whether SQLite's result proves the file damaged: SQLITE_CORRUPT (with its extended
    codes) or SQLITE_NOTADB. Locks, I/O errors, a full disk and the like do not."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def _not_checked(path: Path, exc: sqlite3.Error) -> OperationFailed:
    """The error for a check SQLite could not run (nothing is known of the file)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF == _SQLITE_FULL:
        return OperationFailed(
            f"the disk is full: SQLite could not check {path}; it needs temporary "
            f"space in {sqlite_temp_folder()} (and room in {path.parent})",
            "free some space there, then retry",
        )
    name = getattr(exc, "sqlite_errorname", None)
    why = f"{exc} ({name})" if name else str(exc)
    return OperationFailed(
        f"SQLite could not check {path}: {why}; nothing is known about the file from this",
        "retry; if it happens again, see what else uses that disk or file",
    )


def _out_of_memory(path: Path) -> OperationFailed:
    """SQLite ran out of memory (SQLITE_NOMEM) during the check: nothing is known."""
    return OperationFailed(
        f"SQLite ran out of memory while checking {path}; nothing is known about the "
        "file from this",
        "close other programs to free memory, then retry",
    )


def sqlite_temp_folder() -> str:
    """The folder SQLite keeps its temporary files in (as SQLite picks it on Unix)."""
    for candidate in (
        os.environ.get("SQLITE_TMPDIR"),
        os.environ.get("TMPDIR"),
        "/var/tmp",
        "/usr/tmp",
        "/tmp",
    ):
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            return candidate
    return os.getcwd()


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
    indexed: dict[str, list[str]] = {}
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
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", _SQLITE_ERROR) & 0xFF != _SQLITE_ERROR:
                raise  # locked, I/O, full...: not a SQLite without per-table checks
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


def check_tables(
    conn: StandInConnection, mode: str, tables: list[str], path: Path
) -> CheckResult | None:
    """check_connection's check of only `tables` (each with its indexes: SQLite's
    `pragma quick_check(TABLE)`), as core/history/point_check.py runs it on the b-trees a
    point changed. SQLite leaves out the page accounting then (which pages no b-tree
    uses): the caller proves that itself. Same stand-ins, findings and errors as a whole
    check; None when findings the stand-ins explain filled a table's limit (what came
    after them was not looked at: the whole check, table by table, is the one to run)."""
    if mode not in _PRAGMAS:
        raise ValueError(f"unknown check mode {mode!r}")
    found: list[str] = []
    try:
        needs = dependents(conn, conn.stand_ins) if conn.stand_ins else None
        for table in tables:
            more, stopped = _findings(conn, f"pragma {_PRAGMAS[mode]}({_q(table)})", _MAX_PROBLEMS)
            if needs is not None:
                more, explained = _split(more, needs)
                if explained and stopped:
                    return None
            found += more
        unchecked = list(needs.lines()) if needs is not None else []
    except sqlite3.Error as exc:
        if not is_damage_code(exc):
            raise _not_checked(path, exc) from None
        return CheckResult(mode, False, (str(exc),))
    except MemoryError:
        raise _out_of_memory(path) from None
    problems = list(dict.fromkeys(found))
    return CheckResult(mode, not problems, tuple(problems[:_MAX_PROBLEMS]), tuple(unchecked))
