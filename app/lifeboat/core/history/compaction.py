"""Compaction (level 0 -> level 1, every commit kept) and thinning by a window policy.

Both write the new segment first (a work file, fsynced, renamed, then its manifest),
and only then remove the segments it replaces. A run killed in between leaves both; a
reader uses the segment that covers the others (chain.effective), and the next start
removes those it covers (`remove_covered`): no commit is lost, none counted twice. A
replaced segment with a manifest goes the way of a deletion the user decided: its
manifest becomes the tombstone `.<stem>.deleting` first (core/leftovers.py's rule).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from lifeboat.core.fsutil import fsync_dir
from lifeboat.core.history.chain import (
    MANIFEST_SUFFIX,
    SegmentFile,
    described,
    stem_of,
    superseded,
    write_segment,
    write_segment_manifest,
)
from lifeboat.core.history.folder_lock import changing
from lifeboat.core.history.segment import CommitRecord, SegmentHeader, WrittenSegment
from lifeboat.core.history.segment_read import SegmentReader
from lifeboat.core.history.windows import WindowPolicy, window_key
from lifeboat.core.leftovers import TOMBSTONE_SUFFIX
from lifeboat.core.runs import Run

FLAG_THINNED = 4  # stands for the commits of its window (the last state of the window)


class NotContiguous(ValueError):
    """Segments to be joined do not follow each other."""


def _check_contiguous(segments: Sequence[SegmentFile], *, exact_seqs: bool) -> None:
    for before, after in itertools.pairwise(segments):
        if after.base_id != before.base_id or after.previous_digest != before.end_digest:
            raise NotContiguous(f"{after.path.name} does not follow {before.path.name}")
        if exact_seqs and after.first_seq != before.last_seq + 1:
            raise NotContiguous(f"{after.path.name} does not follow {before.path.name}")


def _commits_of(segments: Sequence[SegmentFile]) -> Iterator[CommitRecord]:
    for segment in segments:
        with SegmentReader(segment.path) as reader:
            yield from reader.iter_commits()


def _joined_header(segments: Sequence[SegmentFile], commits: int) -> SegmentHeader:
    with SegmentReader(segments[0].path) as reader:
        first = reader.header
    return SegmentHeader(
        page_size=first.page_size,
        base_id=first.base_id,
        base_sha256=first.base_sha256,
        segment_seq=max(s.segment_seq for s in segments),
        previous_digest=segments[0].previous_digest,
        first_commit=segments[0].first_seq,
        commit_count=commits,
    )


def compact_level0(
    folder: Path,
    source: str,
    level0: Sequence[SegmentFile],
    run: Run,
    *,
    seal_to: Sequence[str] = (),
) -> SegmentFile:
    """Concatenate consecutive level-0 segments into one level-1 segment (every commit
    kept), publish it with its manifest, then remove the level-0 files. With `seal_to`
    it is sealed (sealing.py): reading sealed level-0 segments needs the identities."""
    ordered = sorted(level0, key=lambda s: s.first_seq)
    path, header, written = join_segments(folder, source, ordered, run, seal_to=seal_to)
    if not seal_to:  # a sealed one got its manifest with it
        write_segment_manifest(path, source, header, written, 1, run)
    remove_segments(ordered)
    return described(path, header, written, 1)


#: Level-1 segments (30 s of commits each) are joined, every commit kept, once this many
#: smaller than JOIN_BELOW wait: a day at a slow pace is then a handful of files, not
#: 2,880 (a reader opens each one); a segment past JOIN_BELOW is left as it is.
JOIN_AT = 32
JOIN_BELOW = 32 << 20


def settle_level1(
    folder: Path,
    source: str,
    level1: Sequence[SegmentFile],
    run: Run,
    *,
    seal_to: Sequence[str] = (),
) -> list[SegmentFile]:
    """Join the small level-1 segments of `level1` (of one chain) into one level-1
    segment once JOIN_AT consecutive ones wait (a big one between them, a burst, is left
    as it is and parts the runs); the level-1 segments left to watch."""
    watched: list[SegmentFile] = []
    for part in _small_runs(sorted(level1, key=lambda s: s.first_seq)):
        if len(part) < JOIN_AT or part[0].size >= JOIN_BELOW:
            watched += part
            continue
        path, header, written = join_segments(folder, source, part, run, seal_to=seal_to)
        if not seal_to:  # a sealed one got its manifest with it
            write_segment_manifest(path, source, header, written, 1, run)
        remove_segments(part)
        watched.append(described(path, header, written, 1))
    return watched


def _small_runs(ordered: Sequence[SegmentFile]) -> list[list[SegmentFile]]:
    """`ordered` cut into runs of small segments that follow each other; a big one (or
    one that does not follow) starts a part of its own."""
    parts: list[list[SegmentFile]] = []
    for segment in ordered:
        last = parts[-1][-1] if parts else None
        joins = (
            last is not None
            and last.size < JOIN_BELOW
            and segment.size < JOIN_BELOW
            and segment.base_id == last.base_id
            and segment.first_seq == last.last_seq + 1
            and segment.previous_digest == last.end_digest
        )
        if joins:
            parts[-1].append(segment)
        else:
            parts.append([segment])
    return parts


def join_segments(
    folder: Path,
    source: str,
    segments: Sequence[SegmentFile],
    run: Run,
    *,
    after: tuple[int, bytes] | None = None,
    seal_to: Sequence[str] = (),
) -> tuple[Path, SegmentHeader, WrittenSegment]:
    """Write the consecutive segments (in commit order, every commit kept) as one
    level-1 segment into `folder`; the segments themselves are left as they are. With
    `after` = (commit, state digest after it), only the commits after that one: the
    new segment starts from that digest."""
    _check_contiguous(segments, exact_seqs=True)
    skip, previous = after if after is not None else (0, segments[0].previous_digest)
    skipped = 0
    if after is not None:
        with SegmentReader(segments[0].path) as reader:
            skipped = sum(1 for c in reader.commits if c.seq <= skip)
    header = replace(
        _joined_header(segments, sum(s.commits for s in segments) - skipped),
        previous_digest=previous,
        first_commit=max(segments[0].first_seq, skip + 1),
    )
    commits = (c for c in _commits_of(segments) if c.seq > skip)
    path, written = write_segment(
        folder, run, source, header, commits, segments[-1].end_digest, level=1, seal_to=seal_to
    )
    return path, header, written


def remove_covered(folder: Path, segments: Sequence[SegmentFile]) -> list[Path]:
    """Remove the segments another (intact) segment covers: what a killed compaction or
    thinning left (the covering one was published first)."""
    covered = superseded(segments)
    remove_segments(covered)
    return [segment.path for segment in covered]


def remove_segment(segment: SegmentFile) -> None:
    """Remove a replaced segment: its manifest (if any) becomes the tombstone first."""
    remove_segments([segment])


def remove_segments(segments: Sequence[SegmentFile]) -> None:
    """Remove replaced segments, holding each folder (core/history/folder_lock.py) once
    for all of its segments (not while the folder is being moved)."""
    by_folder: dict[Path, list[Path]] = {}
    for segment in segments:
        by_folder.setdefault(segment.path.parent, []).append(segment.path)
    for folder, paths in by_folder.items():
        with changing(folder):
            remove_segment_files(*paths)


def remove_segment_files(*paths: Path) -> None:
    """Remove segments (of one folder) and their manifests: each manifest becomes the
    tombstone first, made durable, then the files go; the caller holds the folder. One
    folder fsync per step, not per segment (a compaction replaces about 60 level-0
    files every 30 s); a removal a crash undid is redone by the next start's
    `remove_covered`, or by the tombstone's sweep."""
    if not paths:
        return
    folder = paths[0].parent
    tombstones = []
    for path in paths:
        stem = stem_of(path.name)
        manifest = path.with_name(stem + MANIFEST_SUFFIX)
        tombstone = path.with_name(f".{stem}{TOMBSTONE_SUFFIX}")
        if os.path.lexists(manifest):
            os.replace(manifest, tombstone)
            tombstones.append(tombstone)
    if tombstones:
        fsync_dir(folder)
    for path in [*paths, *tombstones]:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    fsync_dir(folder)


# -- thinning ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ThinResult:
    replaced: list[Path]
    written: SegmentFile | None
    commits_before: int
    commits_after: int


def thin_commits(
    commits: Iterator[CommitRecord], policy: WindowPolicy, now_us: int
) -> Iterator[CommitRecord]:
    """Each window's commits merged into one: the window's last commit, holding the last
    image of every page the window's commits wrote (so every later point still
    rebuilds), flagged thinned (and gap if any merged commit was)."""
    pending: CommitRecord | None = None
    pages: dict[int, bytes] = {}
    flags = 0
    key: object = None
    count = 0
    for commit in commits:
        this = window_key(policy, commit.seq, commit.time_us, now_us)
        if pending is not None and this != key:
            yield _merged(pending, pages, flags, count)
            pages, flags, count = {}, 0, 0
        key = this
        pages.update(commit.pages)
        flags |= commit.flags
        count += 1
        pending = commit
    if pending is not None:
        yield _merged(pending, pages, flags, count)


def _merged(last: CommitRecord, pages: dict[int, bytes], flags: int, count: int) -> CommitRecord:
    if count == 1:
        return CommitRecord(last.seq, last.time_us, last.page_count, flags, pages)
    kept = {n: image for n, image in pages.items() if n <= last.page_count}
    return CommitRecord(last.seq, last.time_us, last.page_count, flags | FLAG_THINNED, kept)


def thin(
    folder: Path,
    source: str,
    segments: Sequence[SegmentFile],
    policy: WindowPolicy,
    now_us: int,
    run: Run,
    *,
    seal_to: Sequence[str] = (),
) -> ThinResult:
    """Thin the consecutive segments (of one chain, level 1 or above, in order) that
    hold more than one commit in some window of `policy`: one new segment replaces them."""
    ordered = sorted(segments, key=lambda s: s.first_seq)
    if not ordered:
        return ThinResult([], None, 0, 0)
    if any(s.level == 0 for s in ordered):
        raise ValueError("level-0 segments are compacted, not thinned")
    _check_contiguous(ordered, exact_seqs=False)
    before = sum(s.commits for s in ordered)
    after = sum(1 for _ in thin_commits(_commit_times(ordered), policy, now_us))
    if after == before:
        return ThinResult([], None, before, before)
    header = _joined_header(ordered, after)
    level = max(s.level for s in ordered) + 1
    path, written = write_segment(
        folder,
        run,
        source,
        header,
        thin_commits(_commits_of(ordered), policy, now_us),
        ordered[-1].end_digest,
        level=level,
        contiguous=False,
        seal_to=seal_to,
    )
    if not seal_to:  # a sealed one got its manifest with it
        write_segment_manifest(path, source, header, written, level, run)
    result = ThinResult(
        [s.path for s in ordered], described(path, header, written, level), before, after
    )
    remove_segments(ordered)
    return result


def _commit_times(segments: Sequence[SegmentFile]) -> Iterator[CommitRecord]:
    """The commits as their indexes list them (no pages): enough to count windows."""
    for segment in segments:
        with SegmentReader(segment.path) as reader:
            for entry in reader.commits:
                yield CommitRecord(entry.seq, entry.time_us, entry.page_count, entry.flags, {})
