"""The zstd seekable format's seek table, and zstd skippable frames.

From zstd's contrib/seekable_format/zstd_seekable_compression_format.md (all numbers
little-endian): the file is zstd frames (and skippable frames) followed by one skippable
frame holding the seek table:

    Skippable_Magic_Number 0x184D2A5E (4) | Frame_Size (4) |
    entries, one per frame before it: Compressed_Size (4) | Decompressed_Size (4) |
                                      [Checksum (4): low 32 bits of XXH64 of the plain bytes]
    footer: Number_Of_Frames (4) | Seek_Table_Descriptor (1; bit 7: checksums present,
            bits 6-2 reserved, must be 0) | Seekable_Magic_Number 0x8F92EAB1 (4)

A skippable frame in the data (our index) has an entry too, with Decompressed_Size 0.
Stock `zstd -d` skips skippable frames and writes the plain bytes of the others.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import overload

import xxhash

SEEK_TABLE_MAGIC = 0x184D2A5E
SEEKABLE_MAGIC = 0x8F92EAB1
SKIPPABLE_HEADER = struct.Struct("<II")
FOOTER = struct.Struct("<IBI")
_CHECKSUM_FLAG = 0x80
_RESERVED_BITS = 0x7C
#: the zstd format's limit on the number of frames a seek table may list
MAX_FRAMES = 0x8000000


class SeekTableError(ValueError):
    """The file does not end with a valid seek table."""


@dataclass(frozen=True, slots=True)  # one per 128 KiB frame: 80,000 for 10 GiB
class SeekEntry:
    compressed: int
    decompressed: int
    checksum: int | None  # None when the table holds no checksums


def frame_checksum(plain: bytes | memoryview) -> int:
    """The seek table's checksum of a frame's plain bytes."""
    return xxhash.xxh64_intdigest(plain) & 0xFFFFFFFF


_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CONTENT_CHECKSUM_FLAG = 0x04


def zstd_checks_it(raw: bytes, checksum: int | None) -> bool:
    """Whether decompressing the zstd frame `raw` proves the seek table's `checksum`:
    the frame says it carries a content checksum (the low 32 bits of XXH64 of its plain
    bytes, stored little-endian at its end: the same value the seek table holds) and the
    stored one equals the table's. zstd then refuses any other plain bytes, so hashing
    them again would check nothing more (and costs a pass over every byte)."""
    return (
        checksum is not None
        and len(raw) > 9
        and raw[:4] == _ZSTD_MAGIC
        and bool(raw[4] & _CONTENT_CHECKSUM_FLAG)
        and int.from_bytes(raw[-4:], "little") == checksum
    )


def skippable_frame(magic: int, payload: bytes) -> bytes:
    """A zstd skippable frame (magic 0x184D2A50-0x184D2A5F) holding `payload`."""
    if magic & 0xFFFFFFF0 != 0x184D2A50:
        raise ValueError(f"{magic:#x} is not a skippable frame magic")
    return SKIPPABLE_HEADER.pack(magic, len(payload)) + payload


def pack_seek_table(entries: Sequence[SeekEntry]) -> bytes:
    """The seek table frame for `entries` (with checksums if every entry has one)."""
    if len(entries) > MAX_FRAMES:
        raise ValueError("too many frames for a seek table")
    with_sums = bool(entries) and all(e.checksum is not None for e in entries)
    body = bytearray()
    for entry in entries:
        body += struct.pack("<II", entry.compressed, entry.decompressed)
        if with_sums:
            body += struct.pack("<I", entry.checksum)
    body += FOOTER.pack(len(entries), _CHECKSUM_FLAG if with_sums else 0, SEEKABLE_MAGIC)
    return skippable_frame(SEEK_TABLE_MAGIC, bytes(body))


class SeekEntries(Sequence[SeekEntry]):
    """A seek table's entries as read, kept as its bytes: one entry per 128 KiB frame is
    80,000 for 10 GiB, a few MB as Python objects; each entry is made when asked for."""

    def __init__(self, raw: bytes, count: int, with_sums: bool) -> None:
        self._raw, self._count = raw, count
        self._width = 12 if with_sums else 8
        self._sums = with_sums

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> SeekEntry: ...

    @overload
    def __getitem__(self, index: slice) -> list[SeekEntry]: ...

    def __getitem__(self, index: int | slice) -> SeekEntry | list[SeekEntry]:
        if isinstance(index, slice):
            return [self._entry(i) for i in range(*index.indices(self._count))]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        return self._entry(index)

    def _entry(self, index: int) -> SeekEntry:
        at = SKIPPABLE_HEADER.size + index * self._width
        compressed, decompressed = struct.unpack_from("<II", self._raw, at)
        checksum = struct.unpack_from("<I", self._raw, at + 8)[0] if self._sums else None
        return SeekEntry(compressed, decompressed, checksum)

    def compressed_total(self) -> int:
        return sum(
            struct.unpack_from("<I", self._raw, SKIPPABLE_HEADER.size + i * self._width)[0]
            for i in range(self._count)
        )


def read_seek_table(read_at: Callable[[int, int], bytes], file_size: int) -> SeekEntries:
    """The seek table at the end of a file of `file_size` bytes; raises SeekTableError.

    The compressed sizes must add up to where the seek table starts."""
    if file_size < SKIPPABLE_HEADER.size + FOOTER.size:
        raise SeekTableError("the file is too short for a seek table")
    count, descriptor, magic = FOOTER.unpack(read_at(file_size - FOOTER.size, FOOTER.size))
    if magic != SEEKABLE_MAGIC:
        raise SeekTableError("the file does not end with a seek table")
    if descriptor & _RESERVED_BITS:
        raise SeekTableError("the seek table uses reserved bits")
    if count > MAX_FRAMES:
        raise SeekTableError("the seek table lists too many frames")
    with_sums = bool(descriptor & _CHECKSUM_FLAG)
    width = 12 if with_sums else 8
    frame_size = count * width + FOOTER.size
    start = file_size - frame_size - SKIPPABLE_HEADER.size
    if start < 0:
        raise SeekTableError("the seek table is longer than the file")
    raw = read_at(start, frame_size + SKIPPABLE_HEADER.size)
    magic_number, size = SKIPPABLE_HEADER.unpack_from(raw)
    if magic_number != SEEK_TABLE_MAGIC or size != frame_size:
        raise SeekTableError("the seek table's frame header does not match its footer")
    entries = SeekEntries(raw, count, with_sums)
    if entries.compressed_total() != start:
        raise SeekTableError("the seek table's frame sizes do not add up to the file")
    return entries
