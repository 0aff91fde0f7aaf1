"""The catalog's snapshot rows and their copies on remotes.

The rows are only an index: the manifests beside the artifacts are the truth, and a scan
of a folder (`replace_folder_snapshots`) or of a remote (`replace_remote_copies`,
`add_remote_only`) recreates them. Part of the `Catalog` (catalog.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from lifeboat.core.catalog_file import CatalogFile
from lifeboat.core.catalog_records import (
    RemoteCopy,
    SnapshotRecord,
    SourceSnapshots,
    copies_by_snapshot,
    copies_of,
    snapshot_record,
)
from lifeboat.core.manifest import Manifest, iso_utc
from lifeboat.foundation.errors import NotFound
from lifeboat.foundation.states import SnapshotStatus

_KNOWN = "select 1 from snapshots where id=?"


class SnapshotIndex(CatalogFile):
    """One row per snapshot (here, or only on a remote), with its remote copies."""

    # -- snapshots ---------------------------------------------------------------

    def add_snapshot(self, manifest: Manifest, folder: Path, status: str = "ok") -> None:
        with self._tx() as db:
            db.execute(
                "insert or replace into snapshots(id, source, created_at, folder, manifest,"
                " protected, reason, status) values (?,?,?,?,?,?,?,?)",
                (
                    manifest.id,
                    manifest.source,
                    iso_utc(manifest.created_at),
                    str(folder),
                    manifest.to_json().decode(),
                    int(manifest.protected),
                    manifest.reason,
                    status,
                ),
            )

    def update_manifest(self, manifest: Manifest) -> None:
        with self._tx() as db:
            db.execute(
                "update snapshots set manifest=?, protected=?, reason=? where id=?",
                (
                    manifest.to_json().decode(),
                    int(manifest.protected),
                    manifest.reason,
                    manifest.id,
                ),
            )

    def snapshots(self, source: str | None = None, limit: int = -1) -> list[SnapshotRecord]:
        """Snapshots, newest first (the newest `limit` of them, if given)."""
        sql = "select * from snapshots"
        args: tuple[object, ...] = ()
        if source is not None:
            sql += " where source=?"
            args = (source,)
        sql += " order by created_at desc, id desc"
        if limit >= 0:  # (a LIMIT of -1 made SQLite's sort of 10,000 rows 5 times slower)
            sql, args = sql + " limit ?", (*args, limit)
        with self._tx(write=False) as db:
            rows = db.execute(sql, args).fetchall()
            copies = copies_by_snapshot(db, source)
        return [snapshot_record(r, copies.get(r["id"], ())) for r in rows]

    # -- what status reads: counted here, not record by record --------------------

    def source_snapshots(self, reason: str) -> dict[str, SourceSnapshots]:
        """Each source's counts, newest usable snapshot, newest FOR_REASON_KEPT snapshots
        taken for `reason` and unproven copies, in one read: parsing 10,000 manifests
        for these took most of a status, and a transaction per source and question
        most of the rest."""
        found: dict[str, dict[str, Any]] = {}
        with self._tx(write=False) as db:
            for source, *counts in db.execute(_COUNTS):
                names = ("count", "stored_bytes", "damaged", "missing", "usable")
                found[source] = dict(zip(names, counts, strict=True))
            picked: list[SnapshotRecord] = []
            for source in found:
                newest = _newest_usable(db, source)
                if newest is not None:
                    found[source]["newest_usable"] = newest
                    picked.append(newest)
            for row in db.execute(_FOR_REASON, (reason,)):
                record = snapshot_record(row)
                found[record.source].setdefault("for_reason", []).append(record)
                picked.append(record)
            # their copies only: all of them were 10,000 rows with every snapshot uploaded
            copies = copies_of(db, list({r.id for r in picked}))
            for source, remote, count in db.execute(_UNPROVEN):
                found[source].setdefault("unproven", {})[remote] = count
            for source, remote, count in db.execute(_PROVEN_USABLE):
                found[source].setdefault("proven", {})[remote] = count
        for facts in found.values():
            if "newest_usable" in facts:
                newest = facts["newest_usable"]
                facts["newest_usable"] = replace(newest, copies=copies.get(newest.id, ()))
            facts["for_reason"] = tuple(
                replace(r, copies=copies.get(r.id, ())) for r in facts.get("for_reason", ())
            )
        return {source: SourceSnapshots(**facts) for source, facts in found.items()}

    def snapshots_for(self, source: str, reason: str) -> list[SnapshotRecord]:
        """All of `source`'s snapshots taken for `reason`, newest first."""
        with self._tx(write=False) as db:
            rows = db.execute(
                "select * from snapshots where source=? and reason=?"
                " order by created_at desc, id desc",
                (source, reason),
            ).fetchall()
            copies = copies_by_snapshot(db, source) if rows else {}
        return [snapshot_record(r, copies.get(r["id"], ())) for r in rows]

    def snapshot_count(self) -> int:
        with self._tx(write=False) as db:
            return int(db.execute("select count(*) from snapshots").fetchone()[0])

    def local_folders(self) -> set[Path]:
        """The folders holding snapshots kept here (not those only on a remote)."""
        with self._tx(write=False) as db:
            rows = db.execute("select distinct folder from snapshots where status != 'remote'")
            return {Path(row[0]) for row in rows}

    def remotes_with_copies(self) -> set[str]:
        """The remotes on which a copy of some snapshot is recorded: one query, where
        reading every snapshot's record took seconds with 10,000 of them."""
        with self._tx(write=False) as db:
            rows = db.execute(
                "select distinct c.remote from remote_copies c"
                " join snapshots s on s.id = c.snapshot_id"
            ).fetchall()
        return {row[0] for row in rows}

    def snapshot(self, ref: str) -> SnapshotRecord:
        """One snapshot by id or unique id prefix (at least 4 characters)."""
        ref = ref.strip().lower()
        if len(ref) < 4 or not all(c in "0123456789abcdef" for c in ref):
            raise NotFound(
                f"{ref!r} is not a snapshot id",
                "snapshot ids are 8 hex digits; see `lifeboat snapshots`",
            )
        with self._tx(write=False) as db:
            rows = db.execute(
                "select * from snapshots where id like ? limit 2", (ref + "%",)
            ).fetchall()
        if not rows:
            raise NotFound(f"no snapshot with id {ref}", "see `lifeboat snapshots`")
        if len(rows) > 1:
            raise NotFound(f"snapshot id {ref} is ambiguous", "give more of its digits")
        with self._tx(write=False) as db:
            copies = copies_by_snapshot(db, rows[0]["source"])
        return snapshot_record(rows[0], copies.get(rows[0]["id"], ()))

    def set_status(
        self,
        snap_id: str,
        status: SnapshotStatus,
        detail: str | None,
        verified_at: datetime | None = None,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "update snapshots set status=?, status_detail=?,"
                " verified_at=coalesce(?, verified_at) where id=?",
                (status, detail, iso_utc(verified_at) if verified_at else None, snap_id),
            )

    def forget_local_files(self, snap_id: str) -> None:
        """A snapshot's files here are gone by the user's decision: a snapshot with remote
        copies stays listed as remote only; one without is forgotten."""
        with self._tx() as db:
            remotes = [
                r["remote"]
                for r in db.execute(
                    "select remote from remote_copies where snapshot_id=? order by remote",
                    (snap_id,),
                )
            ]
            if remotes:
                db.execute(
                    "update snapshots set status=?, status_detail=? where id=?",
                    (SnapshotStatus.REMOTE, "deleted here; on " + ", ".join(remotes), snap_id),
                )
            else:
                db.execute("delete from snapshots where id=?", (snap_id,))

    def remove_snapshot(self, snap_id: str) -> None:
        with self._tx() as db:
            db.execute("delete from snapshots where id=?", (snap_id,))
            db.execute("delete from remote_copies where snapshot_id=?", (snap_id,))

    # -- remote copies ---------------------------------------------------------------

    def add_remote_copy(self, snap_id: str, copy: RemoteCopy) -> None:
        with self._tx() as db:
            _insert_copy(db, snap_id, copy)

    def set_copy_proof(self, snap_id: str, copy: RemoteCopy, failed: str | None = None) -> None:
        """Record what proving `copy` (still the one recorded) found: proven, or why not."""
        with self._tx() as db:
            db.execute(
                "update remote_copies set proven=?, proof_failed=? where snapshot_id=? and"
                " remote=? and key=? and sha256=? and size=?",
                (
                    int(failed is None),
                    failed,
                    snap_id,
                    copy.remote,
                    copy.key,
                    copy.sha256,
                    copy.size,
                ),
            )

    def remove_remote_copy(self, snap_id: str, remote: str) -> None:
        """Forget a remote copy; a snapshot left with no copy anywhere is forgotten too."""
        with self._tx() as db:
            db.execute(
                "delete from remote_copies where snapshot_id=? and remote=?", (snap_id, remote)
            )
            left = db.execute(
                "select count(*) from remote_copies where snapshot_id=?", (snap_id,)
            ).fetchone()[0]
            if not left:
                db.execute("delete from snapshots where id=? and status='remote'", (snap_id,))

    def replace_remote_copies(self, remote: str, found: Iterable[tuple[str, RemoteCopy]]) -> None:
        with self._tx() as db:
            db.execute("delete from remote_copies where remote=?", (remote,))
            for snap_id, copy in found:
                _insert_copy(db, snap_id, copy)

    def replace_folder_snapshots(
        self, folder: Path, found: Iterable[tuple[Manifest, Path, str]]
    ) -> None:
        """Make the local snapshot rows of `folder` exactly `found` (a scan of it, made
        under its lock); a snapshot no longer there but on a remote stays, as remote
        only. Verification state of survivors is kept; other folders are not touched."""
        found = list(found)
        ids = [m.id for m, _, _ in found]
        marks = ",".join("?" * len(ids)) or "''"
        with self._tx() as db:
            db.execute(
                f"update snapshots set status='remote', status_detail='not here; on a remote'"
                f" where folder=? and status != 'remote' and id not in ({marks}) and id in"
                " (select snapshot_id from remote_copies)",
                (str(folder), *ids),
            )
            db.execute(
                f"delete from snapshots where folder=? and id not in ({marks}) and id not in"
                " (select snapshot_id from remote_copies)",
                (str(folder), *ids),
            )
            self._write_rows(db, found)

    def add_remote_only(self, manifest: Manifest, folder: Path) -> None:
        """A snapshot seen on a remote: a row (as remote only) if the catalog has none."""
        with self._tx() as db:
            if db.execute(_KNOWN, (manifest.id,)).fetchone():
                return
            self._write_rows(db, [(manifest, folder, "remote")])

    def unknown_ids(self, ids: Iterable[str]) -> set[str]:
        """Those of `ids` the catalog has no row of."""
        with self._tx(write=False) as db:
            return {i for i in ids if not db.execute(_KNOWN, (i,)).fetchone()}

    def forget_snapshots_nowhere(self) -> None:
        """Rows of remote-only snapshots that no remote holds any more."""
        with self._tx() as db:
            db.execute(
                "delete from snapshots where status='remote' and id not in"
                " (select snapshot_id from remote_copies)"
            )

    @staticmethod
    def _write_rows(
        db: sqlite3.Connection,
        found: Iterable[tuple[Manifest, Path, str]],
        old: dict[str, sqlite3.Row] | None = None,
    ) -> None:
        """Insert or replace snapshot rows; a survivor found ok keeps its verification."""
        if old is None:
            ids = [m.id for m, _, _ in found]
            old = {}
            for chunk in range(0, len(ids), 500):
                part = ids[chunk : chunk + 500]
                old.update(
                    {
                        r["id"]: r
                        for r in db.execute(
                            "select id, status, status_detail, verified_at from snapshots"
                            f" where id in ({','.join('?' * len(part))})",
                            part,
                        )
                    }
                )
        for manifest, folder, status in found:
            prev: sqlite3.Row | None = old.get(manifest.id)
            # What a verify found (damage included) stays; a row that was remote only or
            # missing takes what the scan found now.
            kept = prev is not None and status == "ok" and prev["status"] in ("ok", "corrupt")
            row_status, detail = (
                (prev["status"], prev["status_detail"])
                if kept and prev is not None
                else (status, None)
            )
            db.execute(
                "insert or replace into snapshots(id, source, created_at, folder, manifest,"
                " protected, reason, status, status_detail, verified_at)"
                " values (?,?,?,?,?,?,?,?,?,?)",
                (
                    manifest.id,
                    manifest.source,
                    iso_utc(manifest.created_at),
                    str(folder),
                    manifest.to_json().decode(),
                    int(manifest.protected),
                    manifest.reason,
                    row_status,
                    detail,
                    prev["verified_at"] if prev is not None else None,
                ),
            )


def _insert_copy(db: sqlite3.Connection, snap_id: str, copy: RemoteCopy) -> None:
    db.execute(
        "insert or replace into remote_copies(snapshot_id, remote, key, manifest_key, size,"
        " sha256, encrypted, uploaded_at, proven, proof_failed) values (?,?,?,?,?,?,?,?,?,?)",
        (
            snap_id,
            copy.remote,
            copy.key,
            copy.manifest_key,
            copy.size,
            copy.sha256,
            int(copy.encrypted),
            copy.uploaded_at,
            int(copy.proven),
            copy.proof_failed,
        ),
    )


#: A snapshot that could go to a remote: here and good, no raw copy.
_USABLE = "s.status = 'ok' and coalesce(json_extract(s.manifest, '$.kind'), 'full') != 'raw'"
_COUNTS = (
    "select source, count(*), coalesce(sum(json_extract(manifest, '$.size')), 0),"
    " sum(status = 'corrupt'), sum(status = 'missing'),"
    f" sum({_USABLE}) from snapshots s group by source"
)
# A cross join makes SQLite go through the copies, not the snapshots (whose kind it read
# from every manifest first: 15 ms of each status with 10,000 snapshots and no copies).
_PROVEN_USABLE = (
    "select s.source, c.remote, count(*) from remote_copies c"
    f" cross join snapshots s on s.id = c.snapshot_id where c.proven and {_USABLE}"
    " group by s.source, c.remote"
)


def _newest_usable(db: sqlite3.Connection, source: str) -> SnapshotRecord | None:
    """The newest snapshot of `source` that is here and good and no raw copy (raw
    copies are rare: nearly always the first row read)."""
    rows = db.execute(
        "select * from snapshots where source=? and status='ok' order by created_at desc, id desc",
        (source,),
    )
    return next((r for r in map(snapshot_record, rows) if r.manifest.kind != "raw"), None)


#: Of the snapshots taken for a reason, each source's newest FOR_REASON_KEPT.
FOR_REASON_KEPT = 64
_FOR_REASON = (
    "select * from (select *, row_number() over (partition by source"
    " order by created_at desc, id desc) as n from snapshots where reason = ?)"
    f" where n <= {FOR_REASON_KEPT} order by created_at desc, id desc"
)
_UNPROVEN = (
    "select s.source, c.remote, count(*) from remote_copies c"
    " join snapshots s on s.id = c.snapshot_id where not c.proven group by s.source, c.remote"
)
