"""Reading a SQLite `-wal` file as a plain file: its header, frames and whole transactions.

Format (sqlite.org/fileformat2.html#walformat): a 32-byte header (magic 0x377f0682 or
0x377f0683: the checksums' byte order, little or big-endian; version; page size;
checkpoint sequence; salt-1, salt-2; checksum-1, checksum-2 of the first 24 bytes), then
frames: a 24-byte header (page number; the database size in pages after the commit on a
commit frame, else 0; salt-1, salt-2; checksum-1, checksum-2) and one page. Checksums are
cumulative from the header's (walsum.py). A frame is valid only if its salts equal the
header's and its checksum continues the chain: a frame being written, or one left from an
older generation of the WAL, fails. Only whole transactions (frames up to and including a
commit frame) are ever taken.

Nothing here writes, locks or holds anything: these are pure functions over bytes and a
`read_at(offset, size)` callable.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from lifeboat.core.history.walsum import Checksum, FrameChecksums, checksum_bytes

HEADER_SIZE = 32
FRAME_HEADER_SIZE = 24
MAGIC_LITTLE = 0x377F0682
MAGIC_BIG = 0x377F0683
_HEADER = struct.Struct(">IIIIIIII")
_FRAME_HEADER = struct.Struct(">IIIIII")
_SALTS = struct.Struct(">II")
_FIRST_FRAMES = 16
#: At most this many bytes of frames are read and checked at once.
READ_CHUNK = 4 << 20

ReadAt = Callable[[int, int], bytes]
Salt = tuple[int, int]


@dataclass(frozen=True)
class WalHeader:
    big_endian: bool
    version: int
    page_size: int
    checkpoint_seq: int
    salt: Salt
    checksum: Checksum

    @property
    def frame_size(self) -> int:
        return FRAME_HEADER_SIZE + self.page_size

    def frame_offset(self, index: int) -> int:
        """Where frame `index` (from 1) starts in the file."""
        return HEADER_SIZE + (index - 1) * self.frame_size


def parse_header(raw: bytes) -> WalHeader | None:
    """The WAL header in `raw`, or None if there is no valid one (an empty or short file,
    another magic, a checksum that does not match: a header being written)."""
    if len(raw) < HEADER_SIZE:
        return None
    magic, version, page_size, seq, salt1, salt2, ck1, ck2 = _HEADER.unpack_from(raw)
    if magic not in (MAGIC_LITTLE, MAGIC_BIG):
        return None
    if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
        return None
    big = magic == MAGIC_BIG
    if checksum_bytes(raw[:24], (0, 0), big) != (ck1, ck2):
        return None
    return WalHeader(big, version, page_size, seq, (salt1, salt2), (ck1, ck2))


@dataclass(frozen=True)
class Cursor:
    """Where a reader stands in one generation of the WAL: the last frame it took (0:
    none yet, right after the header) and the running checksum after it."""

    header: WalHeader
    frame: int
    checksum: Checksum

    @classmethod
    def at_start(cls, header: WalHeader) -> Cursor:
        return cls(header, 0, header.checksum)


@dataclass(frozen=True)
class Transaction:
    """One committed transaction: the last image of each page it wrote."""

    pages: dict[int, bytes]
    page_count: int  # the database's size in pages after it
    last_frame: int


class Stop(Enum):
    END = "end"  # the file ends (no more whole frames)
    OTHER_SALT = "other-salt"  # a frame of another generation of the WAL
    BROKEN = "broken"  # right salt, but the checksum does not continue: being written
    LIMIT = "limit"  # enough was read for one call; more may follow


@dataclass
class Scan:
    """What reading on from a cursor found."""

    transactions: list[Transaction] = field(default_factory=list)
    cursor: Cursor | None = None  # after the last whole transaction
    stop: Stop = Stop.END
    #: the salt of the frame where reading stopped (OTHER_SALT, BROKEN)
    stop_salt: Salt | None = None
    #: the frame where reading stopped (the first not taken)
    stop_frame: int = 0
    #: frames read after the last commit frame (a transaction still being written)
    pending_frames: int = 0

    @property
    def page_images(self) -> int:
        return sum(len(t.pages) for t in self.transactions)


def scan(
    read_at: ReadAt,
    cursor: Cursor,
    *,
    limit: int | None = None,
    fast: bool = True,
    expect: int = 0,
) -> Scan:
    """Read the whole valid transactions after `cursor`, in order.

    Reading stops at the end of the file, at a frame of another salt, or at one whose
    checksum does not continue the chain; with `limit`, also once that many bytes of
    whole transactions were taken (the next call goes on from `result.cursor`).
    `expect`: about how many new frames there may be (a follower's last poll found so
    many): the first read takes that many and a margin, so one read and one check
    usually do (each costs a system call and a checksum pass's setup)."""
    return _Scanner(read_at, cursor, limit, fast).run(expect)


class _Scanner:
    """One scan: frames are read in chunks of READ_CHUNK bytes and checked in order."""

    def __init__(self, read_at: ReadAt, cursor: Cursor, limit: int | None, fast: bool) -> None:
        self.read_at = read_at
        self.header = cursor.header
        self.limit = limit
        self.fast = fast
        self.result = Scan(cursor=cursor)
        self.pending: dict[int, bytes] = {}
        self.pending_frames = 0
        self.running = cursor.checksum
        self.index = cursor.frame  # the last frame checked
        self.taken_bytes = 0

    def run(self, expect: int = 0) -> Scan:
        size = self.header.frame_size
        # Small reads first: the file usually goes on with frames of older generations
        # (SQLite reuses it), which are neither read nor checked beyond the first.
        most = max(1, READ_CHUNK // size)
        per_chunk = min(most, max(_FIRST_FRAMES, expect + expect // 2 + 8))
        while True:
            chunk = self.read_at(self.header.frame_offset(self.index + 1), per_chunk * size)
            whole = len(chunk) // size
            if whole == 0 or not self._check(chunk, whole) or whole < per_chunk:
                break
            per_chunk = min(most, per_chunk * 4)
        self.result.stop_frame = self.index + 1
        self.result.pending_frames = self.pending_frames
        if self.result.stop is Stop.LIMIT:
            self.result.pending_frames = 0
        return self.result

    def _check(self, chunk: bytes, whole: int) -> bool:
        """Take the chunk's frames while valid; False once reading should stop."""
        header, size = self.header, self.header.frame_size
        same_salt = 0  # checksums only for the frames that can be valid
        while same_salt < whole and _SALTS.unpack_from(chunk, same_salt * size + 8) == (
            header.salt
        ):
            same_salt += 1
        sums = FrameChecksums(chunk, size, same_salt, header.big_endian, fast=self.fast)
        for i in range(whole):
            at = i * size
            pgno, commit, salt1, salt2, ck1, ck2 = _FRAME_HEADER.unpack_from(chunk, at)
            if (salt1, salt2) != header.salt:
                self.result.stop, self.result.stop_salt = Stop.OTHER_SALT, (salt1, salt2)
                return False
            running = sums.chain(i, self.running)
            if running != (ck1, ck2) or pgno == 0:
                self.result.stop, self.result.stop_salt = Stop.BROKEN, (salt1, salt2)
                return False
            self.running = running
            self.index += 1
            self.pending[pgno] = bytes(chunk[at + FRAME_HEADER_SIZE : at + size])
            self.pending_frames += 1
            if commit and self._commit(commit):
                return False
        return True

    def _commit(self, page_count: int) -> bool:
        """A commit frame ends a transaction; True once `limit` bytes were taken."""
        result = self.result
        result.transactions.append(Transaction(self.pending, page_count, self.index))
        result.cursor = Cursor(self.header, self.index, self.running)
        self.taken_bytes += self.pending_frames * self.header.frame_size
        self.pending, self.pending_frames = {}, 0
        if self.limit is not None and self.taken_bytes >= self.limit:
            result.stop = Stop.LIMIT
            return True
        return False


def frame_header_at(read_at: ReadAt, header: WalHeader, index: int) -> tuple[int, ...] | None:
    """The six fields of frame `index`'s header (None: past the end of the file)."""
    raw = read_at(header.frame_offset(index), FRAME_HEADER_SIZE)
    if len(raw) < FRAME_HEADER_SIZE:
        return None
    return tuple(_FRAME_HEADER.unpack(raw))


def still_there(read_at: ReadAt, cursor: Cursor) -> bool:
    """Whether the last frame `cursor` took is still in the file as it was (same salt,
    same running checksum): nothing truncated or overwrote the WAL up to it."""
    if cursor.frame == 0:
        return True
    fields = frame_header_at(read_at, cursor.header, cursor.frame)
    return (
        fields is not None
        and fields[2:4] == cursor.header.salt
        and fields[4:6] == (cursor.checksum)
    )


def follows(old: WalHeader, new: WalHeader) -> bool:
    """Whether `new` is the generation right after `old` (one checkpoint restarted the
    WAL: SQLite adds one to salt-1 and to the checkpoint sequence)."""
    return (
        new.checkpoint_seq == (old.checkpoint_seq + 1) & 0xFFFFFFFF
        and new.salt[0] == (old.salt[0] + 1) & 0xFFFFFFFF
        and new.page_size == old.page_size
        and new.big_endian == old.big_endian
    )


class WalFile:
    """The `-wal` file opened for reading (never for writing), as a `read_at` callable.

    Open it, read, close it: a descriptor of the WAL kept open across polls would keep
    reading a file SQLite deleted and made anew."""

    def __init__(self, path: os.PathLike[str] | str) -> None:
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            info = os.fstat(self.fd)
        except BaseException:
            os.close(self.fd)
            raise
        self.size = info.st_size
        self.identity = (info.st_dev, info.st_ino)

    def read_at(self, offset: int, size: int) -> bytes:
        return os.pread(self.fd, size, offset)

    def header(self) -> WalHeader | None:
        return parse_header(self.read_at(0, HEADER_SIZE))

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> WalFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class KeptWal:
    """The `-wal` opened once and read again at each poll while `os.stat` of its name
    still shows the same file (inode): a poll saves its open, fstat and close. A WAL
    SQLite deleted and made anew has another inode (the old one cannot be reused while
    this descriptor holds it), so it is opened anew; a descriptor is never written."""

    def __init__(self, path: os.PathLike[str] | str) -> None:
        self._path = path
        self._file: WalFile | None = None

    def open(self, inode: int | None) -> WalFile:
        """The WAL whose `os.stat` gave `inode` (None: it was not there, FileNotFoundError)."""
        if self._file is not None and self._file.identity[1] == inode:
            return self._file
        self.close()
        if inode is None:
            raise FileNotFoundError(self._path)
        self._file = WalFile(self._path)
        return self._file

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
