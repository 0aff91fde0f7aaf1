"""The catalog's copies of continuous-history segments on remotes: one row per segment
object the server was proven to hold (remote/history_upload.py records it only then).
Part of the `Catalog` (catalog.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lifeboat.core.catalog_file import CatalogFile


@dataclass(frozen=True)
class SegmentCopy:
    """A segment of `source`'s history on `remote`, proven to hold exactly its bytes
    (the sealed bytes when `encrypted`)."""

    remote: str
    source: str
    name: str  # the segment's file name (`<source>-<UTC>-<id>.seg.zst`)
    base_id: str
    level: int
    first_seq: int
    last_seq: int
    last_time_us: int
    end_digest: str  # hex: the state digest after its last commit
    key: str
    manifest_key: str
    size: int
    sha256: str  # of the object as stored
    encrypted: bool
    uploaded_at: str

    def covers(self, other: SegmentCopy) -> bool:
        """Whether this copy holds every commit `other` holds, and more or at a higher
        level (the rule of core/history/chain.SegmentFile.covers)."""
        if self.name == other.name or self.base_id != other.base_id:
            return False
        inside = self.first_seq <= other.first_seq and other.last_seq <= self.last_seq
        wider = (self.first_seq, -self.last_seq) < (other.first_seq, -other.last_seq)
        return inside and (wider or self.level > other.level)


_COLUMNS = (
    "remote, source, name, base_id, level, first_seq, last_seq, last_time_us, end_digest, "
    "key, "
    "manifest_key, size, sha256, encrypted, uploaded_at"
)


class SegmentCopyIndex(CatalogFile):
    def add_segment_copy(self, copy: SegmentCopy) -> None:
        with self._tx() as db:
            db.execute(
                f"insert or replace into segment_copies({_COLUMNS}) "
                "values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    copy.remote,
                    copy.source,
                    copy.name,
                    copy.base_id,
                    copy.level,
                    copy.first_seq,
                    copy.last_seq,
                    copy.last_time_us,
                    copy.end_digest,
                    copy.key,
                    copy.manifest_key,
                    copy.size,
                    copy.sha256,
                    int(copy.encrypted),
                    copy.uploaded_at,
                ),
            )

    def remove_segment_copy(self, copy: SegmentCopy) -> None:
        with self._tx() as db:
            db.execute(
                "delete from segment_copies where remote=? and source=? and name=?",
                (copy.remote, copy.source, copy.name),
            )

    def replace_segment_copies(self, remote: str, copies: list[SegmentCopy]) -> None:
        """Make `remote`'s rows exactly `copies` (a scan of the remote found them)."""
        with self._tx() as db:
            db.execute("delete from segment_copies where remote=?", (remote,))
        for copy in copies:
            self.add_segment_copy(copy)

    def segment_copies(self, source: str, remote: str | None = None) -> list[SegmentCopy]:
        """The proven segment copies of `source` (on `remote`), in commit order."""
        sql = f"select {_COLUMNS} from segment_copies where source=?"
        args: tuple[object, ...] = (source,)
        if remote is not None:
            sql += " and remote=?"
            args += (remote,)
        with self._tx(write=False) as db:
            rows = db.execute(sql + " order by base_id, first_seq, level", args).fetchall()
        return [_copy(dict(r)) for r in rows]


def _copy(row: dict[str, Any]) -> SegmentCopy:
    return SegmentCopy(**{**row, "encrypted": bool(row["encrypted"])})
