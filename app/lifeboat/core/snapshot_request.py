"""What a snapshot is asked to be: the source, where it goes, how it is checked and packed,
and the full snapshot a differential is taken against (`snapshot.take_snapshot` takes it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lifeboat.core.dbcopy import CopySettings
from lifeboat.core.manifest import Manifest
from lifeboat.core.runs import Run

if TYPE_CHECKING:
    from lifeboat.core.live_pass import PassShare


@dataclass(frozen=True)
class BaseRef:
    """The full snapshot a differential is taken against."""

    manifest: Manifest
    pages: Path  # its page-hash list, checked against manifest.pages_sha256


@dataclass(frozen=True)
class SafetyOptions:
    """A restore's or merge's safety snapshot: proven by its page hashes, read straight
    from a WAL file (whole_sha256 off, checkpoint_first on); SnapshotRequest's
    `writes_held` and `share`."""

    writes_held: bool = False
    share: PassShare | None = None


@dataclass(frozen=True)
class SnapshotRequest:
    source: str
    source_path: Path
    folder: Path  # <dest>/<source>, a private folder the caller made
    run: Run  # names the work files; its scratch folder holds the copy
    scratch: Path
    check: str = "quick"
    level: int = 3
    reason: str = "manual"
    protected: bool = False
    copy: CopySettings = field(default_factory=CopySettings)
    #: compressed/plain ratio expected from earlier snapshots (1.0: assume the worst)
    expected_ratio: float = 1.0
    #: keep a page-hash list beside a full snapshot, so later ones can be differentials
    hash_pages: bool = True
    base: BaseRef | None = None
    #: a differential may store at most this share of its base's size
    rebase_ratio: float = 0.5
    #: age recipients: keep the artifact on this machine encrypted to all of them
    recipients: tuple[str, ...] = ()
    #: the newest snapshot: a copy with the same content is not stored again
    unchanged_since: Manifest | None = None
    #: a differential records the whole database's SHA-256 (db_sha256); without it a
    #: rebuild is proven by the content digest (page hashes) instead: the safety
    #: snapshot of a restore or merge, which must cost the least (docs/SAFETY.md)
    whole_sha256: bool = True
    #: a WAL source's frames are copied back (PASSIVE checkpoint) so that it is read
    #: straight from its file: only where Lifeboat is about to write it anyway
    checkpoint_first: bool = False
    #: another connection of this process holds the source's write lock meanwhile (a
    #: merge's locked safety snapshot): the checkpoint is allowed on an SQLite with the
    #: WAL-reset bug too (core/wal_reset.py)
    writes_held: bool = False
    #: a row merge's safety snapshot hands its pass over the frozen live file (its page
    #: hashes) to the merge's changed rows (core/live_pass.py)
    share: PassShare | None = None
