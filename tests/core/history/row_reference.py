"""The brute-force reference for row changes: rebuild every point of a chain and diff
each commit's two databases row by row with SQLite itself."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lifeboat.core.history.bases import BaseRef
from lifeboat.core.history.page_reader import ChainPages
from lifeboat.core.history.points import Point, rebuild_point
from lifeboat.core.history.row_changes import TableChange, commit_changes
from lifeboat.core.history.segment_read import SegmentReader
from tests.core.history.helpers import Capture


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_rows(path: Path) -> dict[str, dict[object, tuple[object, ...]]]:
    """Every table's rows by key: the rowid, or a WITHOUT ROWID table's primary key."""
    conn = sqlite3.connect(path)
    try:
        names = [
            r[0]
            for r in conn.execute(
                "select name from sqlite_schema where type = 'table' and rootpage > 0"
            )
        ]
        found: dict[str, dict[object, tuple[object, ...]]] = {}
        for name in names:
            q = _quoted(name)
            try:
                found[name] = {
                    r[0]: tuple(r[1:]) for r in conn.execute(f"select rowid, * from {q}")
                }
            except sqlite3.OperationalError:  # WITHOUT ROWID: keyed by its primary key
                info = conn.execute(f"pragma table_info({q})").fetchall()
                pk = sorted((r[5], r[0]) for r in info if r[5])
                rows = conn.execute(f"select * from {q}").fetchall()
                found[name] = {tuple(r[i] for _, i in pk): tuple(r) for r in rows}
        return found
    finally:
        conn.close()


def reference_changes(old: Path, new: Path) -> list[TableChange]:
    before, after = table_rows(old), table_rows(new)
    changes = []
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name, {}), after.get(name, {})
        added = sum(1 for k in b if k not in a)
        deleted = sum(1 for k in a if k not in b)
        changed = sum(1 for k in b if k in a and a[k] != b[k])
        if added or changed or deleted:
            changes.append(TableChange(name, added, changed, deleted))
    return changes


def _points(capture: Capture, base: BaseRef, chain: list) -> list[Point]:  # type: ignore[type-arg]
    points = [Point(base, [], 0, 0, base.manifest.page_count, 0, None)]
    for number, segment in enumerate(chain):
        with SegmentReader(segment.path) as reader:
            for c in reader.commits:
                points.append(
                    Point(base, chain[: number + 1], c.seq, c.time_us, c.page_count, c.flags, None)
                )
    return points


def check_every_commit(capture: Capture, base_id: str) -> int:
    """Compare, for every commit of the chain, the counted changes with the reference;
    return how many commits had changes."""
    base = capture.open_base(base_id)
    assert base is not None
    chain = capture.chain(base_id)
    points = _points(capture, base, chain)
    files = []
    for point in points:
        dest = capture.root / f"point-{point.commit_seq}.db"
        rebuild_point(point, dest, capture.run, capture.scratch)
        files.append(dest)
    pages = ChainPages(base, chain, capture.run, capture.scratch)
    with_changes = 0
    try:
        for old, new, point, prev in zip(files, files[1:], points[1:], points, strict=False):
            counted = commit_changes(
                pages.state(prev.commit_seq),
                pages.state(point.commit_seq),
                pages.written(point.commit_seq),
            )
            expected = reference_changes(old, new)
            assert counted == expected, f"commit {point.commit_seq}: {counted} != {expected}"
            with_changes += bool(expected)
    finally:
        pages.close()
        for path in files:
            path.unlink()
    return with_changes
