"""What a restore would change, in words: one paragraph from a `DatabaseDiff`."""

from __future__ import annotations

from lifeboat.core.dbdiff_records import NOT_COMPARED, DatabaseDiff, TableDiff


def summarize(diff: DatabaseDiff, table_limit: int = 4) -> str:
    """One paragraph: what restoring the snapshot over the other database would do."""
    parts: list[str] = []
    uncompared = [t for t in diff.tables if t.matched_by == NOT_COMPARED]
    changed = [t for t in diff.tables if t.differs and t.matched_by != NOT_COMPARED]
    for table in changed[:table_limit]:
        bits = []
        if table.note in ("only in the snapshot", "only now"):
            continue
        if table.brought_back:
            bits.append(f"brings back {_rows(table.brought_back)}")
        if table.removed:
            bits.append(f"removes {_rows(table.removed)} added since the snapshot")
        if table.changed:
            bits.append(f"changes {_rows(table.changed)}")
        if table.partial or table.matched_by == "counts only":
            bits.append(
                f"goes from {_n(table.rows_now)} to {_n(table.rows_snapshot)} rows "
                "(not compared row by row)"
            )
        if bits:
            parts.append(f"{', '.join(bits)} in {table.name}")
    if len(changed) > table_limit:
        parts.append(f"changes {len(changed) - table_limit} more table(s)")
    for item in diff.schema.added:
        parts.append(f"drops {item} (created since)")
    for item in diff.schema.removed:
        parts.append(f"brings back {item}")
    for name, columns in diff.schema.columns_added.items():
        parts.append(f"drops column(s) {', '.join(columns)} of {name}")
    for name, columns in diff.schema.columns_removed.items():
        parts.append(f"brings back column(s) {', '.join(columns)} of {name}")
    if diff.unreadable is not None:
        rows = sum(t.rows_snapshot or 0 for t in diff.tables)
        return (
            f"SQLite cannot read the database there ({diff.unreadable}): restoring "
            f"replaces all of it with the snapshot's {len(diff.tables)} table(s) and "
            f"{_rows(rows)}."
        )
    if not parts:
        text = (
            "Restoring changes nothing in the tables compared."
            if uncompared
            else "Restoring changes nothing: the data are the same."
        )
    else:
        text = "Restoring " + "; ".join(parts) + "."
    if diff.partial:
        text += " (Some tables were too large to compare in the time given: counts only.)"
    if uncompared:
        text += " Not compared here: " + "; ".join(_why_not(t) for t in uncompared) + "."
    return text


def _why_not(table: TableDiff) -> str:
    reason = (table.note or "").removeprefix("not compared here: ")
    return f"{table.name} ({reason})" if reason else table.name


def _n(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _rows(count: int) -> str:
    return f"{count:,} row" if count == 1 else f"{count:,} rows"
