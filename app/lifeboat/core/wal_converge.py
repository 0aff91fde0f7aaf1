"""A WAL database whose file holds it all, copied into scratch with its read lock held
only for a compare: the converging copy applied to a frozen WAL database.

The read transaction that proves the database file holds the whole database (WAL read
lock 0, core/wal_direct.py) keeps every checkpoint of the app from copying frames back
for as long as it lasts; an app that checkpoints with a busy timeout waits, and past it
its checkpoint fails. Copying the whole file under that lock (core/wal_scratch.py, the
compressor following the copy) holds it for a page-cache copy: 0.4 to 2.5 s per GiB on a
loaded machine, long enough to fail a 1 s busy timeout. So here the file is first copied
without any lock, keeping each chunk's hash (core/chunk_compare.py); then, inside the
frozen read transaction, only the pages a checkpoint can have written since the unlocked
pass began are copied again: none when the file's stamp (its size and times, which every
write() moves: core/file_stamp.py) proves nothing wrote it meanwhile, and the wal-index,
if there was one, shows no commit or checkpoint since (a write through a shared mapping
to a page already dirty moves no time); else those of the
WAL's frames, when the WAL is still the generation it was then (core/wal_frames.py says
why that is all). The lock is then held for a stat, or for reading those frames' headers
and pages, however large the database. When neither can be told (the app checkpointed
and its WAL was reset meanwhile), every chunk is read from the page cache and hashed, and
the few that differ are copied again (about 0.15 s per GiB under the lock). Either way
the copy then equals the frozen file, whatever the unlocked pass read. Page 1's header
is made a standalone copy's (wal_direct.standalone_header). The copy is checked and
packed as any other copy.

Scratch space: one database's worth, as for any copy (the snapshot's room check asks for
it before the copy starts); a full disk fails the copy with ENOSPC before any lock.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import xxhash

from lifeboat.core.chunk_compare import compare_chunks, copy_pass, read_chunks
from lifeboat.core.file_stamp import FileStamp
from lifeboat.core.kept_descriptors import pinned, unpin
from lifeboat.core.page_bits import PageBits
from lifeboat.core.private import create_file
from lifeboat.core.wal_direct import FrozenWal, frozen_wal, looks_backfilled, standalone_header
from lifeboat.core.wal_frames import pages_written_since, wal_generation, wal_position
from lifeboat.core.wal_scratch import CopyAhead
from lifeboat.foundation.progress import CancelToken, Progress, no_progress

#: unlocked passes, each followed by a try at the proof, before the usual copy is made
_ATTEMPTS = 3


@dataclass(frozen=True)
class ConvergedWal:
    """The copy's shape, and how long (from when, wall clock) read lock 0 was held."""

    page_size: int
    page_count: int
    held_seconds: float
    held_from: float
    locked_chunks: int  # copied again under the lock, when the whole file was compared
    #: copied again under the lock when only the pages a checkpoint can have written were
    #: (core/wal_frames.py); None when the whole file was compared
    locked_pages: int | None = None
    #: whether any byte of the copy changed after the first pass wrote it (a later pass,
    #: the locked compare, the size, page 1): what followed that pass is not the copy
    rewrote: bool = False


@dataclass(frozen=True)
class _PassStart:
    """What is read before an unlocked pass begins, to tell under the lock what may have
    been written since: the WAL's generation (core/wal_frames.py) and the file's stamp
    (core/file_stamp.py: in WAL mode only a checkpoint writes the file, and every write
    moves its times)."""

    generation: bytes | None
    stamp: FileStamp
    identity: tuple[int, int]  # (st_dev, st_ino) of the file the pass reads
    position: bytes | None  # core/wal_frames.wal_position: None without a wal-index

    @classmethod
    def of(cls, path: Path, fd: int) -> _PassStart:
        kept = os.fstat(fd)
        generation, position = wal_generation(path), wal_position(path)
        stamp = FileStamp.of(b"", fd)
        return cls(generation, stamp, (kept.st_dev, kept.st_ino), position)


def converge_wal(
    path: Path,
    dest: Path,
    busy_timeout: float,
    progress: Progress,
    cancel: CancelToken,
    ahead: CopyAhead | None = None,
) -> ConvergedWal | None:
    """Copy the WAL database `path` into the new file `dest` as above, or None (`dest`
    left for the caller to remove) when its file cannot be proven to hold it all now:
    frames not yet copied back (then copy it the usual way). With `ahead`, its first
    `ahead.size` bytes are told as the first pass writes them, page 1 already made
    standalone, for a reader that follows the copy (core/snapshot_converge.py); the
    result's `rewrote` says whether the copy is still what that reader read."""
    if not hasattr(os, "preadv") or not looks_backfilled(path):
        return None  # an unlocked pass would be wasted
    fd, _ = pinned(path)  # the locked compare reads the frozen file, whatever this one was
    try:
        out = create_file(dest, readable=True)  # the lock step reads what it holds
        try:
            hashes: list[bytes] = []
            rewrote = False
            for attempt in range(_ATTEMPTS):
                if ahead is not None and ahead.stopped:
                    raise OSError("the reader of the copy stopped")  # its snapshot failed
                start = _PassStart.of(path, fd)
                if attempt == 0 and ahead is not None:
                    rewrote = not _first_pass(fd, out, hashes, ahead, progress, cancel)
                else:
                    copied = copy_pass(fd, out, hashes, progress, cancel)  # catches up
                    rewrote = rewrote or (attempt > 0 and copied > 0)
                if ahead is not None:
                    ahead.locked_step(True)  # the follower pauses: this has the CPU
                try:
                    done = _converge_once(path, out, hashes, start, busy_timeout, cancel)
                finally:
                    if ahead is not None:
                        ahead.locked_step(False)
                if done is not None:
                    return replace(done, rewrote=rewrote or done.rewrote)
                progress = no_progress
            return None
        finally:
            os.close(out)
    finally:
        unpin(fd)


def _first_pass(
    fd: int,
    out: int,
    hashes: list[bytes],
    ahead: CopyAhead,
    progress: Progress,
    cancel: CancelToken,
) -> bool:
    """The first unlocked pass over the whole file as it is now (as copy_pass, page 1
    written standalone, as the finished copy holds it), its first `ahead.size` bytes
    told to `ahead` as they are written; False, the reader told no more comes, when the
    file is shorter than that now. A file longer than that is copied whole all the same
    (the lock step relies on the copy holding the file as the pass began); the reader's
    caller sees the size differ."""
    copied = 0
    for offset, chunk, size in read_chunks(fd):
        hashes.append(xxhash.xxh3_128_digest(chunk))  # of the file's bytes, as copy_pass
        _write_all(out, standalone_header(bytes(chunk)) if offset == 0 else chunk, offset)
        copied = offset + len(chunk)
        ahead.advanced(min(copied, ahead.size))
        progress("copy", copied, size)
        cancel.check()
        if ahead.stopped:
            raise OSError("the reader of the copy stopped")
    if copied < ahead.size:
        ahead.failed(OSError("the database file shrank while it was copied"))
        return False
    return True


def _converge_once(
    path: Path,
    out: int,
    hashes: list[bytes],
    start: _PassStart,
    busy_timeout: float,
    cancel: CancelToken,
) -> ConvergedWal | None:
    """The locked compare, if the database file can be proven to hold it all now: of
    the pages a checkpoint can have written since the pass began (core/wal_frames.py),
    or, when that cannot be told, of the whole file."""
    with frozen_wal(path, busy_timeout) as frozen:
        if frozen is None:
            return None  # frames not copied back (yet): the app checkpoints later, or never
        written = _written_since(path, frozen, out, start)
        if written is None:
            locked, pages = _compare_frozen(frozen, out, hashes, cancel), None
        else:
            locked, pages = 0, _copy_frozen_pages(frozen, out, written)
        finished_changed = _finish_copy(frozen, out)
        held_from = time.time() - (time.monotonic() - frozen.held_since)
    held = time.monotonic() - frozen.held_since  # the read transaction ended just above
    rewrote = bool(locked or pages or finished_changed)
    shape = (frozen.page_size, frozen.page_count)
    return ConvergedWal(*shape, held, held_from, locked, pages, rewrote)


def _written_since(path: Path, frozen: FrozenWal, out: int, start: _PassStart) -> PageBits | None:
    """Under read lock 0: the pages a checkpoint can have written since the pass began:
    none when the file's stamp proves nothing wrote it; those of the WAL's frames while
    the WAL is the generation it was; else None (compare the whole file)."""
    frozen_file = os.fstat(frozen.fd)
    if (frozen_file.st_dev, frozen_file.st_ino) != start.identity:
        return None  # another file than the pass read: compare it all
    if FileStamp.of(b"", frozen.fd).unchanged_since(start.stamp) and _no_checkpoint_since(
        path, start
    ):
        return PageBits(frozen.page_count)
    if start.generation is None:
        return None
    written = pages_written_since(path, start.generation, frozen.page_size, frozen.page_count)
    if written is None or not _tail_covered(frozen, out, written):
        return None
    return written


def _no_checkpoint_since(path: Path, start: _PassStart) -> bool:
    """Whether the wal-index, if there was one when the pass began, says no commit,
    reset or checkpoint came since (core/wal_frames.wal_position): a checkpoint that
    writes the file through a shared mapping (SQLITE_MMAP_READWRITE) may leave its times
    as they were. Without a wal-index then (no connection had the database open) the
    stamp alone says it."""
    return start.position is None or wal_position(path) == start.position


def _tail_covered(frozen: FrozenWal, out: int, written: PageBits) -> bool:
    """Whether every page of the database past what the copy holds is one a checkpoint
    wrote (it must be: only a checkpoint makes the file grow); else compare it all."""
    held = os.fstat(out).st_size // frozen.page_size
    return not PageBits.span(held + 1, frozen.page_count, written.limit).minus(written)


def _compare_frozen(frozen: FrozenWal, out: int, hashes: list[bytes], cancel: CancelToken) -> int:
    """Under read lock 0: every chunk of the frozen file compared with the copy's. The
    file is read, not mapped: a mapping of the whole file would count it all in this
    process's memory (a restore's safety snapshot must stay within its bound), and
    reading 1 GiB from the page cache and hashing it takes about 0.15 s."""
    size = frozen.db_size
    chunks = ((o, c, size) for o, c, _ in read_chunks(frozen.fd) if o < size)
    return compare_chunks(chunks, out, hashes, no_progress, cancel)


def _copy_frozen_pages(frozen: FrozenWal, out: int, pages: PageBits) -> int:
    """Under read lock 0: the `pages` (the only ones that can differ from the copy)
    copied again from the frozen file where they differ from what the copy holds (page
    1 as the finished copy holds it: standalone); return how many did."""
    size = frozen.page_size
    differed = 0
    for first, count in pages.runs():
        at = (first - 1) * size
        data = os.pread(frozen.fd, count * size, at)
        if len(data) != count * size:
            raise OSError(f"the database file ends inside page {first + len(data) // size}")
        held = os.pread(out, count * size, at)
        for n in range(count):
            page = data[n * size : (n + 1) * size]
            if first + n == 1:
                page = standalone_header(page)
            if held[n * size : (n + 1) * size] != page:
                _write_all(out, page, at + n * size)
                differed += 1
    return differed


def _write_all(out: int, data: bytes | memoryview, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(out, view, offset)
        view, offset = view[written:], offset + written


def _finish_copy(frozen: FrozenWal, out: int) -> bool:
    """The copy cut to the database's size and its page 1 made standalone; whether
    either changed what the copy held."""
    cut = os.fstat(out).st_size != frozen.db_size
    if cut:
        os.ftruncate(out, frozen.db_size)
    first = os.pread(frozen.fd, frozen.page_size, 0)
    if len(first) < frozen.page_size:
        raise OSError(f"the database file ends inside page 1 ({len(first)} bytes)")
    header = standalone_header(first)
    if os.pread(out, len(header), 0) == header:
        return cut
    if os.pwrite(out, header, 0) != len(header):
        raise OSError("page 1 of the copy could not be written whole")
    return True
