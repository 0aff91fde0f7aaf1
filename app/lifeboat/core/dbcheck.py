"""Integrity checks of standalone database copies (ours, never the live database)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from lifeboat.core.sqlite_file import open_copy

CHECK_MODES = ("quick", "full")
_PRAGMAS = {"quick": "quick_check", "full": "integrity_check"}
_MAX_PROBLEMS = 20


@dataclass(frozen=True)
class CheckResult:
    mode: str
    ok: bool
    problems: tuple[str, ...]

    @property
    def summary(self) -> str:
        if self.ok:
            return "ok"
        more = "" if len(self.problems) < _MAX_PROBLEMS else " ..."
        return "; ".join(self.problems[:3]) + more


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
        rows = conn.execute(f"pragma {_PRAGMAS[mode]}({_MAX_PROBLEMS})").fetchall()
    except sqlite3.DatabaseError as exc:
        return CheckResult(mode, False, (str(exc),))
    finally:
        conn.close()
    problems = tuple(str(r[0]) for r in rows)
    ok = problems == ("ok",)
    return CheckResult(mode, ok, () if ok else problems)
