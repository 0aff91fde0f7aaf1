"""The catalog's list of snapshots for `lifeboat snapshots`, read by SQL; and a few
snapshots' records by id.

Listing 10,000 snapshots by their records parsed every manifest (JSON, then checked
field by field): most of the command's second. The list shows a few fields, which
SQLite's json_extract reads in C (its parse of a row's manifest is shared by the
calls on it). The full records (`snapshots()`) stay what every other caller reads.
Part of the `Catalog` (catalog.py).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from lifeboat.core.catalog_file import CatalogFile
from lifeboat.core.catalog_records import (
    SnapshotLine,
    SnapshotRecord,
    copies_of,
    copy_label,
    snapshot_record,
)
from lifeboat.core.manifest import UNCHECKED_KEY, parse_iso_utc
from lifeboat.foundation.states import SnapshotStatus

# A manifest without a kind is a full (formats 1 and 2); a list of what its check did
# not check that is not empty makes it "partly checked" (dbcheck.recorded_unchecked).
_LINES = (
    "select id, source, created_at, coalesce(json_extract(manifest, '$.kind'), 'full'),"
    " json_extract(manifest, '$.base'), json_extract(manifest, '$.size'),"
    " json_extract(manifest, '$.db_size'), status, reason,"
    " json_extract(manifest, '$.protected'),"
    f" coalesce(json_array_length(manifest, '$.{UNCHECKED_KEY}'), 0) > 0"
    " from snapshots{where} order by created_at desc, id desc"
)
_COPIES = (
    "select c.snapshot_id, c.remote, c.proven, c.proof_failed from remote_copies c"
    " join snapshots s on s.id = c.snapshot_id{where} order by c.remote"
)


class SnapshotListing(CatalogFile):
    def snapshot_lines(self, source: str | None = None) -> list[SnapshotLine]:
        """Each snapshot (of `source`, or all) as the list shows it, newest first: the
        same order and values as `snapshots()`, without reading whole records."""
        where, args = (" where source=?", (source,)) if source is not None else ("", ())
        copies: dict[str, list[str]] = {}
        with self._tx(write=False) as db:
            rows = db.execute(_LINES.format(where=where), args).fetchall()
            copy_where = " where s.source=?" if source is not None else ""
            for snap_id, remote, proven, failed in db.execute(
                _COPIES.format(where=copy_where), args
            ):
                copies.setdefault(snap_id, []).append(copy_label(remote, bool(proven), failed))
        return [_line(row, copies) for row in rows]

    def snapshot_folders(self) -> set[Path]:
        """Every folder a snapshot row names (here or only on a remote): one query,
        where reading every record took a rebuild of 10,000 snapshots a quarter second."""
        with self._tx(write=False) as db:
            return {Path(row[0]) for row in db.execute("select distinct folder from snapshots")}

    def snapshots_by_id(self, ids: list[str]) -> dict[str, SnapshotRecord]:
        """The records of just these snapshots (those the catalog has), by id: a few
        looked up, not all of a source's read (a history chain's base, at each status)."""
        found: dict[str, SnapshotRecord] = {}
        with self._tx(write=False) as db:
            for start in range(0, len(ids), 500):  # SQLite's limit on parameters
                part = ids[start : start + 500]
                marks = ",".join("?" * len(part))
                rows = db.execute(f"select * from snapshots where id in ({marks})", part)
                found.update({row["id"]: snapshot_record(row) for row in rows})
            copies = copies_of(db, list(found))
        return {i: replace(r, copies=copies.get(i, ())) for i, r in found.items()}


_STATUSES = {status.value: status for status in SnapshotStatus}


def _line(row: tuple[Any, ...], copies: dict[str, list[str]]) -> SnapshotLine:
    """A row of _LINES (its columns in that order) as a line, with its copies' labels."""
    snap_id, source, created, kind, base, size, db_size, status, reason, protected, partly = row
    here = ("local",) if status != SnapshotStatus.REMOTE else ()
    return SnapshotLine(
        id=snap_id,
        source=source,
        created_at=parse_iso_utc(created),
        kind=kind,
        base=base,
        size=size,
        db_size=db_size,
        status=_STATUSES[status],
        locations=here + tuple(copies.get(snap_id, ())),
        reason=reason,
        protected=bool(protected),
        partly_checked=bool(partly),
    )
