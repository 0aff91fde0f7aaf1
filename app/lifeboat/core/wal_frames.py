"""The pages a checkpoint can have written into a WAL database's file since a moment.

In WAL mode only a checkpoint writes the database file (core/wal_direct.py), and it
writes only pages it copies from the WAL's frames. Within one generation of the WAL (from
one reset to the next) committed frames are only ever added, never overwritten: a frame
slot is reused only after the WAL is reset, and every reset (a writer starting the WAL
again from its first frame, a TRUNCATE checkpoint, the WAL made anew after the last
connection closed) gives the wal-index header new salts first (wal.c, walRestartHdr:
salt-1 plus one, salt-2 random; a WAL made anew: random ones). So when the salts read
from the wal-index before an unlocked copy of the file began are still its salts while
read lock 0 is held (every frame copied back, no checkpoint running), every page a
checkpoint wrote meanwhile is the page of one of the frames 1..mxFrame: the copy can
differ from the frozen file only in those pages, and past the file's end.

The frames' page numbers are read from their headers in the WAL file, each checked to
carry the same salts. Anything unexpected (no -shm, a header being written, other salts,
a WAL of another page size) gives None: compare the whole file.
"""

from __future__ import annotations

import bisect
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from lifeboat.core.kept_descriptors import pinned, unpin
from lifeboat.core.page_bits import PageBits

_INDEX_HEADER = 48  # WalIndexHdr, kept twice (wal.c)
_SALTS = slice(32, 40)  # WalIndexHdr.aSalt: the WAL header's salt bytes, copied as they are
_MX_FRAME = struct.Struct("=I")  # at offset 16, in the machine's byte order
_WAL_HEADER = 32
_FRAME_HEADER = 24
_BIG_U32 = struct.Struct(">I")
_BACKFILLED = struct.Struct("=I")  # WalCkptInfo.nBackfill, right after the two headers


def wal_generation(path: Path) -> bytes | None:
    """The salts of the WAL database `path`'s wal-index now (read without a lock: both
    copies of its header must agree), or None when there is none to read."""
    header = index_header(path)
    return None if header is None else header[_SALTS]


def wal_position(path: Path) -> bytes | None:
    """The wal-index header of the WAL database `path` and its count of frames copied
    back (WalCkptInfo.nBackfill, right after the header's two copies), read now without
    a lock, or None. Two equal readings: no commit (mxFrame, the checksums), no reset
    (the salts) and no checkpoint's progress (nBackfill) came between them, so nothing
    had frames to copy into the file. A proof that needs no file time: a write through
    a shared mapping to a page already dirty moves neither (core/file_stamp.py)."""
    both = _index_start(path, 2 * _INDEX_HEADER + _BACKFILLED.size)
    if both is None or _settled(both) is None:
        return None
    return both[:_INDEX_HEADER] + both[2 * _INDEX_HEADER :]


def pages_written_since(
    path: Path, generation: bytes, page_size: int, page_count: int
) -> PageBits | None:
    """Under WAL read lock 0 (the caller holds it): the pages (up to `page_count`) of the
    frames 1..mxFrame of the WAL, if its salts are still `generation` and its pages are
    `page_size` bytes; else None."""
    header = index_header(path)
    if header is None or header[_SALTS] != generation:
        return None
    (mx_frame,) = _MX_FRAME.unpack_from(header, 16)
    if mx_frame == 0:  # no frame in this generation: no checkpoint had anything to write
        return PageBits(page_count)  # (the WAL file's header may still be the last one's)
    try:
        fd, _ = pinned(Path(f"{path}-wal"))  # kept: SQLite's locks on the file stay
    except OSError:
        return None
    try:
        pages = _frame_pages(fd, generation, mx_frame, page_size, page_count)
    finally:
        unpin(fd)
    # A writer may reset the WAL under read lock 0 (its restart needs the other read
    # locks only) and write frames over the ones read: a frame header read as it was
    # being written could pair a new page number with the old salts. The reset gives the
    # wal-index its new salts before it writes any frame (wal.c, walRestartHdr): still the
    # same after the reads, no frame read was being overwritten.
    if pages is None or wal_generation(path) != generation:
        return None
    return pages


def _frame_pages(
    fd: int, salts: bytes, frames: int, page_size: int, page_count: int
) -> PageBits | None:
    found = newest_frames(fd, salts, frames, page_size, page_count)
    if found is None:
        return None
    pages = PageBits(page_count)
    for page in found:
        pages.add(page)
    return pages


def newest_frames(
    fd: int, salts: bytes, frames: int, page_size: int, page_count: int
) -> dict[int, int] | None:
    """Each page (up to `page_count`: one past the end was cut away with the file) of the
    frames 1..`frames` of the WAL file `fd`, and the offset of its newest frame's page
    bytes; None when the WAL's header or a frame's does not carry `salts`, or its pages
    are not `page_size` bytes."""
    wal_header = os.pread(fd, _WAL_HEADER, 0)
    if len(wal_header) < _WAL_HEADER or wal_header[16:24] != salts:
        return None
    # the WAL header keeps the page size whole (65536 too: only the database's and the
    # wal-index's headers keep that one as 1)
    if _BIG_U32.unpack_from(wal_header, 8)[0] != page_size:
        return None
    newest: dict[int, int] = {}
    stride = _FRAME_HEADER + page_size
    for index in range(frames):
        at = _WAL_HEADER + index * stride
        frame = os.pread(fd, _FRAME_HEADER, at)
        if len(frame) < _FRAME_HEADER or frame[8:16] != salts:
            return None
        (page,) = _BIG_U32.unpack_from(frame, 0)
        if 0 < page <= page_count:
            newest[page] = at + _FRAME_HEADER
    return newest


def index_header(path: Path) -> bytes | None:
    """The wal-index header of `path`, if settled (both copies equal, initialised)."""
    both = _index_start(path, 2 * _INDEX_HEADER)
    return None if both is None else _settled(both)


def _index_start(path: Path, size: int) -> bytes | None:
    """The first `size` bytes of `path`'s wal-index, or None when there is none."""
    try:
        fd, _ = pinned(Path(f"{path}-shm"))  # never closed here: SQLite's locks stay
    except OSError:
        return None
    try:
        return os.pread(fd, size, 0)
    except OSError:
        return None
    finally:
        unpin(fd)


def _settled(both: bytes) -> bytes | None:
    """The header of a wal-index start read as `both` (its two copies and maybe more),
    if the copies are equal and it is initialised."""
    header = both[:_INDEX_HEADER]
    if len(both) < 2 * _INDEX_HEADER or header != both[_INDEX_HEADER : 2 * _INDEX_HEADER]:
        return None
    return header if header[12] == 1 else None


@dataclass(frozen=True)
class WalPages:
    """The pages of a frozen state that are in WAL frames not yet copied back: where
    each one's newest frame (of the frames the read transaction reads) holds its bytes
    in the WAL file `fd`."""

    fd: int
    offsets: dict[int, int]
    numbers: tuple[int, ...]  # the pages of `offsets`, in order

    def within(self, first: int, last: int) -> tuple[int, ...]:
        """The pages from `first` to `last` (both included) that are in the WAL."""
        start = bisect.bisect_left(self.numbers, first)
        return self.numbers[start : bisect.bisect_right(self.numbers, last, lo=start)]


def wal_pages(
    path: Path, fd: int, header: bytes, page_size: int, page_count: int, pins: list[int]
) -> WalPages | None:
    """Under a read transaction that began on the WAL database `path` (its file `fd`),
    the pages of frames 1..mxFrame of the WAL (`header`: the wal-index header seen
    before and after the read transaction began, frames not all copied back).

    What it rests on (wal.c, walTryBeginRead): a read transaction that begins while
    frames are not all copied back takes a read lock other than 0, on a mark no greater
    than the header's mxFrame, and reads that header's state: each page from its newest
    frame up to mxFrame, else from the database file. The same header before and after
    is the one it read. While that lock is held the WAL is not reset (a reset needs every
    read lock but 0), so frames 1..mxFrame stay as they are, and a checkpoint copies
    back no frame past the mark: the file changes only in pages read from the WAL here.
    Each frame read must carry the header's salts; a page past the file's end that no
    frame holds, or a header whose page count is not the transaction's, gives None."""
    (mx_frame,) = _MX_FRAME.unpack_from(header, 16)
    (pages_then,) = _MX_FRAME.unpack_from(header, 20)  # WalIndexHdr.nPage
    if pages_then != page_count:
        return None
    wal_fd, _ = pinned(Path(f"{path}-wal"))  # kept: SQLite's locks on the file stay
    pins.append(wal_fd)  # unpinned by the caller, with its others
    offsets = newest_frames(wal_fd, header[_SALTS], mx_frame, page_size, page_count)
    if offsets is None:
        return None
    in_file = os.fstat(fd).st_size // page_size
    if any(n not in offsets for n in range(in_file + 1, page_count + 1)):
        return None
    return WalPages(wal_fd, offsets, tuple(sorted(offsets)))
