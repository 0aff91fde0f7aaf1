"""Points of a chain: which commit a moment means, and rebuilding the database there.

A point is the last commit at or before a moment T. Its database is the base with the
newest image of each page written by the chain's commits up to it, cut at its page
count. It is rebuilt in one pass in page order: first the page map (page -> segment,
frame, offset of its newest image up to the point) is built from the segments' indexes
alone, then the base's pages stream out with the mapped ones put in their place
(rebuild.py, which says how it keeps up with decompressing the base). Memory holds the
map (12 bytes a page), a few decompressed frames and blocks, whatever the size of the
database. When the point ends a segment, the rebuilt state's digest must equal the one
the segment recorded (pagestate.py): the result is proven to be what was captured.

The output is written as a work file of the run (exclusive, 0600), fsynced (a restore's
integrity check runs on it meanwhile), and then published under its name, which must
not exist yet. Its header says journal mode DELETE (as every snapshot's does): a
standalone file, no `-wal` needed.
"""

from __future__ import annotations

import contextlib
import os
import threading
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lifeboat.core.fsutil import fsync_dir
from lifeboat.core.history.bases import BaseRef
from lifeboat.core.history.chain import SegmentFile
from lifeboat.core.history.page_writer import WriteFailed
from lifeboat.core.history.rebuild import build_map, open_segments, write_pages
from lifeboat.core.history.segment_read import SegmentReader
from lifeboat.core.private import open_new, unwritten_error
from lifeboat.core.runs import Run
from lifeboat.foundation.errors import CorruptSnapshot


@dataclass(frozen=True)
class Point:
    base: BaseRef
    segments: list[SegmentFile]  # the chain's segments up to the one holding the commit
    commit_seq: int  # 0: the base itself
    time_us: int
    page_count: int
    flags: int
    #: the state digest the point must rebuild to (known where a segment ends)
    end_digest: bytes | None


def resolve_point(base: BaseRef, chain: list[SegmentFile], at_us: int) -> Point | None:
    """The last commit of `chain` (its effective segments, in order) at or before `at_us`;
    None if the chain's first commit is later."""
    chosen: tuple[int, SegmentFile] | None = None
    for number, segment in enumerate(chain):
        if segment.first_time_us > at_us:
            break
        chosen = (number, segment)
    if chosen is None:
        return None
    number, segment = chosen
    with SegmentReader(segment.path) as reader:
        entries = [c for c in reader.commits if c.time_us <= at_us]
        if not entries:
            return None
        last = entries[-1]
        ends = last.seq == reader.commits[-1].seq
    return Point(
        base=base,
        segments=chain[: number + 1],
        commit_seq=last.seq,
        time_us=last.time_us,
        page_count=last.page_count,
        flags=last.flags,
        end_digest=segment.end_digest if ends else None,
    )


@dataclass(frozen=True)
class RewrittenPages:
    """What a rebuilt point holds besides its base's pages: `listed` are the pages a
    segment gave (the only ones that may differ from the base's among the first
    `same_until`); every page past `same_until` is new or rewritten too."""

    listed: array  # array("I"), increasing
    same_until: int
    page_count: int


@dataclass(frozen=True)
class Rebuilt:
    path: Path
    page_count: int
    state_digest: bytes  # b"" where the point has none to prove (inside a segment)
    pages_from_segments: int


#: what a restore runs on a rebuilt point before it is published (the file, and which of
#: its pages may differ from the base's: point_check.py): raises to refuse it
PointCheck = Callable[[Path, RewrittenPages], None]


def rebuild_point(
    point: Point,
    dest: Path,
    run: Run,
    scratch: Path,
    check: PointCheck | None = None,
    *,
    kept: bool = False,
) -> Rebuilt:
    """Write the point's database to the new file `dest` (raises FileExistsError if it
    exists, CorruptSnapshot if anything fails a check; nothing is left then). `check`
    runs on the finished work file beside its fsync (_synced_and_checked); `dest` is
    published only once the file is on disk and the check passed. `kept`: `dest` is
    what the user keeps, not read back whole: the base's pages go around the page cache
    (rebuild.write_pages); a scratch file a preview or drill reads back, or that is
    deleted before it ever reaches the disk, is better written through it."""
    dest = Path(dest)
    work = run.work_path(dest.parent, "restore")
    try:
        with open_segments(point) as readers, open_new(work) as out:
            mapping = build_map(point, readers)
            # With a check to run, the final fsync runs beside it: the block-by-block path
            # then does not flush while writing (it would only slow its writing down);
            # the direct one starts the writeback as it goes either way (rebuild.py).
            # The state digest is computed only where there is one to prove (a point that
            # ends a segment): hashing every page costs the rebuild's thread about a tenth.
            state = write_pages(
                point,
                readers,
                mapping,
                out,
                run,
                scratch,
                flush_while_writing=check is None,
                digest_pages=point.end_digest is not None,
                around_cache=kept,
            )
            _flushed_and_proven(out, point, state)
            written = RewrittenPages(
                mapping.listed,
                min(mapping.base_pages, point.base.manifest.page_count),
                point.page_count,
            )
            _synced_and_checked(out.fileno(), work, check, written)
        os.link(work, dest)  # never replaces a file
        os.unlink(work)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(work)
        _raise_said(exc, point, dest)
        raise
    fsync_dir(dest.parent)
    return Rebuilt(dest, point.page_count, state, mapping.substituted)


def _flushed_and_proven(out: BinaryIO, point: Point, state: bytes) -> None:
    """Flush the work file; where the point ends a segment, prove the rebuilt state is
    the one the segment recorded."""
    try:
        out.flush()
    except OSError as exc:
        raise WriteFailed(exc) from exc
    if point.end_digest is not None and state != point.end_digest:
        raise CorruptSnapshot(
            f"the point at commit {point.commit_seq} does not rebuild to the state "
            "its segment recorded",
            "use another point or snapshot",
        )


def _raise_said(exc: BaseException, point: Point, dest: Path) -> None:
    """A failed write is raised as what the user can do about it (a full disk, a
    read-only folder); anything else returns for the caller to re-raise."""
    failed = _write_failure(exc)
    if failed is None:
        return
    said = unwritten_error(failed.error, dest.parent, f"the point at commit {point.commit_seq}")
    if said is not None:
        raise said from None
    raise failed.error from None


def _synced_and_checked(
    fd: int, work: Path, check: PointCheck | None, written: RewrittenPages
) -> None:
    """fsync the written file; `check` it meanwhile, in this thread: the check reads
    the pages from the page cache while the disk writes them out. Returns once both are
    done; the check's error first (the file is not kept either way), then the fsync's."""
    if check is None:
        try:
            os.fsync(fd)
        except OSError as exc:
            raise WriteFailed(exc) from exc
        return
    failed: list[OSError] = []

    def sync() -> None:
        try:
            os.fsync(fd)
        except OSError as exc:
            failed.append(exc)

    syncing = threading.Thread(target=sync, name="lifeboat-fsync", daemon=True)
    syncing.start()
    try:
        check(work, written)
    finally:
        syncing.join()  # the file is closed only once its fsync is done
    if failed:
        raise WriteFailed(failed[0])


def _write_failure(exc: BaseException) -> WriteFailed | None:
    """The WriteFailed behind `exc`, if any: closing the file after a failed write
    flushes what is left and fails again, and that later error is the one raised."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, WriteFailed):
            return seen
        seen = seen.__context__
    return None
