"""What deleting one snapshot by hand does to the others: plain data, no I/O.

A differential is restored from its base; the base's copy on a remote keeps it
restorable (the base is downloaded), else the differentials built on it can no longer
be restored once it is deleted. The front ends ask before deleting and say afterwards
what happened, from this.
"""

from __future__ import annotations

from dataclasses import dataclass

from lifeboat.core.catalog_records import SnapshotRecord


@dataclass(frozen=True)
class DeletionEffects:
    record: SnapshotRecord
    #: the differentials built on it (restored with it as their base)
    dependents: tuple[SnapshotRecord, ...]
    #: the remotes that keep a proven copy of it (it stays restorable from there)
    kept_on: tuple[str, ...]

    @property
    def pinned_dependents(self) -> tuple[SnapshotRecord, ...]:
        return tuple(r for r in self.dependents if r.manifest.protected)

    @property
    def breaks(self) -> tuple[SnapshotRecord, ...]:
        """The snapshots that can no longer be restored once it is deleted here."""
        return () if self.kept_on else self.dependents


def deletion_effects(record: SnapshotRecord, records: list[SnapshotRecord]) -> DeletionEffects:
    """What deleting `record` (its files here) does, given every snapshot known."""
    dependents = tuple(
        r for r in records if r.manifest.kind == "diff" and r.manifest.base == record.id
    )
    kept_on = tuple(c.remote for c in record.copies if c.proven)
    return DeletionEffects(record, dependents, kept_on)
