"""A chain's files in a snapshot folder: naming, writing, listing and choosing segments.

Segments sit beside the snapshots as `<source>-<first commit UTC>-<id>.seg.zst`. A
level-0 segment (one per write of the follower, every 0.5 s while commits come) is
self-describing and has no manifest (its seek table, index SHA-256 and frame checksums
check it; it lives for seconds until compaction). A level-1 or thinned segment also
gets a manifest `<stem>.json` (kind `segment`), written after it: the files are the
truth, and a reader that sees both a segment and the segments whose commits it holds
uses the one that covers more.

Every file is written as a work file of the run (exclusive, 0600), fsynced, renamed into
place, and the folder fsynced (docs/SAFETY.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from lifeboat.core.fsutil import atomic_write_bytes, fsync_dir
from lifeboat.core.hashing import HashingFile, sha256_file
from lifeboat.core.history.folder_lock import changing
from lifeboat.core.history.sealed_manifest import Mark, read_sealed_facts, sealed_fields
from lifeboat.core.history.sealing import SEALED_SUFFIX, SealingWriter, is_sealed
from lifeboat.core.history.segment import (
    CommitRecord,
    SegmentHeader,
    SegmentWriter,
    WrittenSegment,
)
from lifeboat.core.history.segment_read import SegmentDamaged, SegmentReader
from lifeboat.core.manifest import TIMESTAMP_FORMAT, iso_utc
from lifeboat.core.private import open_new
from lifeboat.core.runs import Run

SEGMENT_SUFFIX = ".seg.zst"
MANIFEST_SUFFIX = ".json"
SEGMENT_FORMAT = 3  # the manifest format that knows segments
SEGMENT_NAME_RE = re.compile(
    r"^(?P<source>[A-Za-z0-9][A-Za-z0-9_-]{0,63})-(?P<ts>\d{8}T\d{6}Z)-(?P<id>[0-9a-f]{8})"
    r"\.seg\.zst(?P<sealed>\.age)?$"
)


def stem_of(name: str) -> str:
    """A segment file's stem (its manifest is `<stem>.json`), sealed or not."""
    return name.removesuffix(SEALED_SUFFIX).removesuffix(SEGMENT_SUFFIX)


def time_of(time_us: int) -> datetime:
    return datetime.fromtimestamp(time_us / 1_000_000, UTC)


def segment_stem(source: str, first_time_us: int, segment_id: str) -> str:
    return f"{source}-{time_of(first_time_us).strftime(TIMESTAMP_FORMAT)}-{segment_id}"


@dataclass(frozen=True)
class SegmentFile:
    """One segment as listed in a folder (what its header and index say)."""

    path: Path
    base_id: str
    level: int
    segment_seq: int
    first_seq: int
    last_seq: int
    commits: int
    first_time_us: int
    last_time_us: int
    previous_digest: bytes
    end_digest: bytes
    size: int

    def covers(self, other: SegmentFile) -> bool:
        """Whether this segment holds every commit `other` holds (and more, or is the
        higher level): `other` is superseded."""
        if self.path == other.path or self.base_id != other.base_id:
            return False
        inside = self.first_seq <= other.first_seq and other.last_seq <= self.last_seq
        wider = (self.first_seq, -self.last_seq) < (other.first_seq, -other.last_seq)
        return inside and (wider or self.level > other.level)


def describe(path: Path) -> SegmentFile:
    """Read a segment's header and index (raises SegmentDamaged); a sealed one's from
    its manifest (sealed_manifest.py), opened only when that is missing or unreadable."""
    if is_sealed(path):
        known = described_sealed(Path(path))
        if known is not None:
            return known[0]
    with SegmentReader(path) as reader:
        header = reader.header
        return SegmentFile(
            path=Path(path),
            base_id=header.base_id,
            level=reader.index.level,
            segment_seq=header.segment_seq,
            first_seq=reader.first_seq,
            last_seq=reader.last_seq,
            commits=len(reader.commits),
            first_time_us=reader.commits[0].time_us,
            last_time_us=reader.commits[-1].time_us,
            previous_digest=header.previous_digest,
            end_digest=reader.end_digest,
            size=reader.size,
        )


def described_sealed(path: Path) -> tuple[SegmentFile, tuple[Mark, ...]] | None:
    """A sealed segment and its gap and merged marks as its manifest says (None: no
    manifest of this file; it must be opened)."""
    facts = read_sealed_facts(path)
    if facts is None:
        return None
    segment = SegmentFile(
        path=Path(path),
        base_id=facts.base_id,
        level=facts.level,
        segment_seq=facts.segment_seq,
        first_seq=facts.first_seq,
        last_seq=facts.last_seq,
        commits=facts.commits,
        first_time_us=facts.first_time_us,
        last_time_us=facts.last_time_us,
        previous_digest=facts.previous_digest,
        end_digest=facts.end_digest,
        size=facts.size,
    )
    return segment, facts.marks


def described(
    path: Path, header: SegmentHeader, written: WrittenSegment, level: int
) -> SegmentFile:
    """What `describe` would read back from a segment just written."""
    return SegmentFile(
        path=Path(path),
        base_id=header.base_id,
        level=level,
        segment_seq=header.segment_seq,
        first_seq=header.first_commit,
        last_seq=written.last_seq,
        commits=written.commits,
        first_time_us=written.first_time_us,
        last_time_us=written.last_time_us,
        previous_digest=header.previous_digest,
        end_digest=written.end_digest,
        size=written.size,
    )


@dataclass
class Listing:
    segments: list[SegmentFile]  # every readable segment of the source
    damaged: list[tuple[Path, str]]  # segment files that fail to open, and why


def list_segments(folder: Path, source: str) -> Listing:
    listing = Listing([], [])
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return listing
    for name in names:
        match = SEGMENT_NAME_RE.match(name)
        if match is None or match.group("source") != source:
            continue
        try:
            listing.segments.append(describe(Path(folder) / name))
        except (SegmentDamaged, OSError) as exc:
            listing.damaged.append((Path(folder) / name, str(exc)))
    return listing


def effective(segments: Iterable[SegmentFile]) -> list[SegmentFile]:
    """The segments a reader uses: those no other segment covers, in commit order."""
    items = list(segments)
    kept = [s for s in items if not any(o.covers(s) for o in items)]
    return sorted(kept, key=lambda s: (s.first_seq, -s.level))


def superseded(segments: Iterable[SegmentFile]) -> list[SegmentFile]:
    items = list(segments)
    return [s for s in items if any(o.covers(s) for o in items)]


def chain_of(segments: Iterable[SegmentFile], base_id: str) -> list[SegmentFile]:
    return effective(s for s in segments if s.base_id == base_id)


def write_segment(
    folder: Path,
    run: Run,
    source: str,
    header: SegmentHeader,
    commits: Iterable[CommitRecord],
    end_digest: bytes,
    *,
    level: int = 0,
    contiguous: bool = True,
    seal_to: Sequence[str] = (),
) -> tuple[Path, WrittenSegment]:
    """Write a segment as a work file of `run`, fsync it and rename it into place. With
    `seal_to` (age recipients) the file is its age ciphertext, `<stem>.seg.zst.age`, and
    a manifest is written beside it (the listing reads that, not the segment)."""
    work = run.work_path(folder, "seg.zst")
    try:
        with open_new(work) as out:
            written = _write_to(out, header, commits, end_digest, level, contiguous, seal_to)
            out.flush()
            os.fsync(out.fileno())
        suffix = SEGMENT_SUFFIX + (SEALED_SUFFIX if seal_to else "")
        final = Path(folder) / (
            segment_stem(source, written.first_time_us, secrets.token_hex(4)) + suffix
        )
        with changing(Path(folder)):  # not while the folder is being moved
            os.link(work, final)  # never replaces anything: a taken name fails
        os.unlink(work)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(work)
        raise
    fsync_dir(Path(folder))
    if seal_to:
        write_segment_manifest(final, source, header, written, level, run)
    return final, written


def _write_to(
    out: BinaryIO,
    header: SegmentHeader,
    commits: Iterable[CommitRecord],
    end_digest: bytes,
    level: int,
    contiguous: bool,
    seal_to: Sequence[str],
) -> WrittenSegment:
    """The segment into `out`, or sealed to `seal_to` into it (no plain byte on disk)."""
    if not seal_to:
        writer = SegmentWriter(out, header, level=level, contiguous=contiguous)
        for commit in commits:
            writer.add(commit)
        return writer.finish(end_digest)
    ciphertext = HashingFile(out)
    sealing = SealingWriter(ciphertext, seal_to)  # type: ignore[arg-type]  # a file to pyrage
    try:
        writer = SegmentWriter(sealing, header, level=level, contiguous=contiguous)  # type: ignore[arg-type]  # write() is all it uses
        for commit in commits:
            writer.add(commit)
        written = writer.finish(end_digest)
    finally:
        sealing.close()
    return replace(written, sealed=(ciphertext.count, ciphertext.hexdigest()))


def write_segment_manifest(
    path: Path, source: str, header: SegmentHeader, written: WrittenSegment, level: int, run: Run
) -> Path:
    """The manifest beside a level-1 (or thinned) segment."""
    stem = stem_of(path.name)
    data = segment_manifest(path.name, source, header, written, level)
    manifest = Path(path).with_name(stem + MANIFEST_SUFFIX)
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(manifest, text.encode(), run)
    return manifest


def segment_manifest(
    name: str, source: str, header: SegmentHeader, written: WrittenSegment, level: int
) -> dict[str, object]:
    """What a segment's manifest says (kind `segment`), for the file named `name`."""
    match = SEGMENT_NAME_RE.match(name)
    assert match is not None
    return {
        "format": SEGMENT_FORMAT,
        "kind": "segment",
        "id": match.group("id"),
        "source": source,
        "artifact": name,
        "base": header.base_id,
        "base_sha256": header.base_sha256,
        "chain": header.base_id,
        "level": level,
        "segment_seq": header.segment_seq,
        "first_commit_seq": written.first_seq,
        "last_commit_seq": written.last_seq,
        "first_commit_at": iso_utc(time_of(written.first_time_us)),
        "last_commit_at": iso_utc(time_of(written.last_time_us)),
        "commit_count": written.commits,
        "previous_end_digest": header.previous_digest.hex(),
        "end_state_digest": written.end_digest.hex(),
        "page_size": header.page_size,
        "size": written.size,
        "sha256": written.sha256,
        **sealed_fields(written, header.first_commit),
    }


def manifest_of_file(path: Path, source: str) -> dict[str, object]:
    """The manifest of a published segment, read from the file (a level-0 segment has
    none beside it): its header and index, its SHA-256 (raises SegmentDamaged)."""
    with SegmentReader(path) as reader:
        header, level = reader.header, reader.index.level
        commits = reader.commits
        written = WrittenSegment(
            size=reader.size,
            sha256=sha256_file(path),
            plain_size=0,
            frames=reader.frames,
            commits=len(commits),
            first_seq=reader.first_seq,
            last_seq=reader.last_seq,
            first_time_us=commits[0].time_us,
            last_time_us=commits[-1].time_us,
            end_digest=reader.end_digest,
        )
    return segment_manifest(Path(path).name, source, header, written, level)
