"""A table compared only within the rowid intervals that can differ (core/preview_ranges.py).

Outside those intervals both databases hold the same rows, so the figures of the whole
table follow from the intervals alone: rows brought back and changed are those found in
them, and the counts of the snapshot's table are the live count less the live rows in the
intervals plus the snapshot's rows in them; where the snapshot's count is known (its
manifest's), the live count follows the same way, and neither table is counted whole.
The snapshot side is read only inside the intervals (its scratch file holds nothing
else); a b-tree page SQLite finds zeroed there means the plan missed one, and
`IntervalsUnproven` sends the caller back to the full comparison (a zeroed overflow page
is not found so: the plan copies every chain it needs, core/preview_ranges.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from lifeboat.core.dbdiff_records import TableDiff
from lifeboat.core.dbdiff_schema import NOW, SNAP, column_names, quote_id

_INTERVALS = 'main."lifeboat intervals"'


class IntervalsUnproven(Exception):
    """The snapshot's scratch file lacked a page the comparison read."""


def compare_intervals(
    conn: sqlite3.Connection,
    name: str,
    intervals: Sequence[tuple[int, int]],
    check_time: Callable[[], int],
    known: int | None = None,
) -> TableDiff | None:
    """The figures of table `name` (matched on its rowid), or None when the time budget
    (or a cancel) stopped the comparison. `known`: the snapshot's row count, if known
    (else the live table is counted)."""
    table = quote_id(name)
    now_columns = set(column_names(conn, NOW, name))
    differ = " or ".join(
        f"s.{quote_id(c)} is not n.{quote_id(c)}"
        for c in column_names(conn, SNAP, name)
        if c in now_columns
    )
    conn.execute(f"create table if not exists {_INTERVALS}(low integer, high integer)")
    conn.execute(f"delete from {_INTERVALS}")
    conn.executemany(f"insert into {_INTERVALS} values (?, ?)", intervals)
    # the intervals outermost: each is a search and a short scan of the rowid b-tree
    within = "from {} as r cross join {}.{} as {} where {}.rowid between r.low and r.high"
    conn.set_progress_handler(check_time, 20_000)
    try:
        counted_now = (
            int(conn.execute(f"select count(*) from {NOW}.{table}").fetchone()[0])
            if known is None
            else None
        )
        now_inside = int(
            conn.execute(
                "select count(*) " + within.format(_INTERVALS, NOW, table, "n", "n")
            ).fetchone()[0]
        )
        back, changed, snap_inside = conn.execute(
            f"select coalesce(sum(n.rowid is null), 0), "
            f"coalesce(sum(n.rowid is not null and ({differ or '0'})), 0), count(*) "
            + within.format(_INTERVALS, SNAP, table, "s", "s").replace(
                " where ", f" left join {NOW}.{table} as n on n.rowid = s.rowid where ", 1
            )
        ).fetchone()
    except sqlite3.DatabaseError as exc:
        if "interrupted" in str(exc):
            return None
        raise IntervalsUnproven(str(exc)) from None
    finally:
        conn.set_progress_handler(None, 0)
    if counted_now is not None:
        rows_now, rows_snap = counted_now, counted_now - now_inside + int(snap_inside)
    else:
        assert known is not None
        rows_snap, rows_now = known, known - int(snap_inside) + now_inside
    # rowids are unique on both sides: the live rows inside that matched none are removed
    gone = now_inside - (int(snap_inside) - int(back))
    return TableDiff(name, rows_snap, rows_now, int(back), gone, int(changed), matched_by="")
