"""Seekable artifacts (format 3): frames and a seek table; random reads equal the
plain file; damage is found by the frame checksums; stock `zstd -d` gives the plain file;
a file without a valid seek table is read from the start as before."""

from __future__ import annotations

import hashlib
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from lifeboat.core.decompress import decompress_file
from lifeboat.core.history.seektable import (
    FOOTER,
    SEEK_TABLE_MAGIC,
    SEEKABLE_MAGIC,
    SKIPPABLE_HEADER,
    SeekEntry,
    frame_checksum,
    pack_seek_table,
    read_seek_table,
)
from lifeboat.core.seekable import SeekableArtifact, open_seekable, seek_entries
from lifeboat.core.seekable_write import FRAME_PLAIN, compress_file_seekable, rechunk
from lifeboat.foundation.errors import CorruptSnapshot

PAGE = 4096
SIZES = [0, PAGE, FRAME_PLAIN, FRAME_PLAIN + PAGE, 5 * FRAME_PLAIN + 3 * PAGE]


def _plain(size: int, seed: int) -> bytes:
    """Bytes that compress somewhat (like a database: text and noise)."""
    rng = random.Random(seed)
    parts, total = [], 0
    while total < size:
        piece = rng.randbytes(300) + b"the quick brown fox " * rng.randrange(1, 40)
        parts.append(piece)
        total += len(piece)
    return b"".join(parts)[:size]


def _write(tmp_path: Path, plain: bytes, name: str = "a.sqlite.zst") -> Path:
    source = tmp_path / (name + ".plain")
    source.write_bytes(plain)
    dest = tmp_path / name
    result = compress_file_seekable(source, dest)
    assert result.plain_size == len(plain) and result.size == dest.stat().st_size
    return dest


@pytest.mark.parametrize("size", SIZES)
def test_round_trips_of_many_sizes(tmp_path: Path, size: int):
    plain = _plain(size, size)
    artifact = _write(tmp_path, plain)
    entries = seek_entries(artifact)
    assert entries is not None
    assert len(entries) == max(1, -(-size // FRAME_PLAIN))  # an empty file: one empty frame
    assert all(e.decompressed == FRAME_PLAIN for e in entries[:-1])
    assert sum(e.decompressed for e in entries) == size
    # each entry's checksum (taken from its frame's own zstd checksum) is the seek
    # table's: the low 32 bits of XXH64 of that frame's plain bytes
    starts = [sum(e.decompressed for e in entries[:n]) for n in range(len(entries))]
    assert [e.checksum for e in entries] == [
        frame_checksum(plain[at : at + e.decompressed])
        for at, e in zip(starts, entries, strict=True)
    ]
    out = tmp_path / "out.db"
    result = decompress_file(artifact, out, hash_plain=True)
    assert result.plain_size == size and out.read_bytes() == plain
    if shutil.which("zstd"):  # stock zstd skips the seek table
        stock = subprocess.run(["zstd", "-dc", str(artifact)], capture_output=True, check=True)
        assert stock.stdout == plain


def test_random_reads_equal_the_plain_file(tmp_path: Path):
    plain = _plain(3 * FRAME_PLAIN + 1234, 7)
    artifact = _write(tmp_path, plain)
    rng = random.Random(11)
    with SeekableArtifact(artifact, cache_frames=2) as reader:
        assert reader.plain_size == len(plain)
        for _ in range(300):
            offset = rng.randrange(len(plain) + 100)
            size = rng.choice([1, PAGE, rng.randrange(3 * FRAME_PLAIN)])
            assert reader.read(offset, size) == plain[offset : offset + size]
        before = reader.frames_read
        assert reader.read(FRAME_PLAIN + 5, 10) == plain[FRAME_PLAIN + 5 : FRAME_PLAIN + 15]
        reader.read(FRAME_PLAIN + 50, 10)  # the same frame: from the cache
        assert reader.frames_read <= before + 1


def test_a_page_read_decompresses_only_its_frame(tmp_path: Path):
    plain = _plain(8 * FRAME_PLAIN, 3)
    artifact = _write(tmp_path, plain)
    with SeekableArtifact(artifact) as reader:
        assert reader.read(6 * FRAME_PLAIN + PAGE, PAGE) == plain[6 * FRAME_PLAIN + PAGE :][:PAGE]
        assert reader.frames_read == 1


def _frame_offset(artifact: Path, number: int) -> int:
    entries = seek_entries(artifact)
    assert entries is not None
    return sum(e.compressed for e in entries[:number])


def test_a_damaged_frame_is_found_and_named_and_the_others_still_read(tmp_path: Path):
    plain = _plain(4 * FRAME_PLAIN, 5)
    artifact = _write(tmp_path, plain)
    data = bytearray(artifact.read_bytes())
    at = _frame_offset(artifact, 2) + 200  # inside frame 2's compressed block
    data[at] ^= 0x40
    artifact.write_bytes(bytes(data))
    with SeekableArtifact(artifact) as reader:
        assert reader.read(0, FRAME_PLAIN) == plain[:FRAME_PLAIN]
        assert reader.read(3 * FRAME_PLAIN, 10) == plain[3 * FRAME_PLAIN : 3 * FRAME_PLAIN + 10]
        with pytest.raises(CorruptSnapshot, match="frame 2"):
            reader.read(2 * FRAME_PLAIN + 7, 10)


def test_a_frame_that_decompresses_but_does_not_match_its_checksum_is_damage(tmp_path: Path):
    plain = _plain(2 * FRAME_PLAIN, 9)
    artifact = _write(tmp_path, plain)
    data = bytearray(artifact.read_bytes())
    # The seek table's checksum of frame 1 (entries: 12 bytes each, checksum last).
    table_at = len(data) - FOOTER.size - 2 * 12
    data[table_at + 12 + 8] ^= 0x01
    artifact.write_bytes(bytes(data))
    with SeekableArtifact(artifact) as reader:
        assert reader.read(0, 10) == plain[:10]
        with pytest.raises(CorruptSnapshot, match="frame 1 does not match its checksum"):
            reader.read(FRAME_PLAIN, 10)


def test_a_damaged_seekable_artifact_fails_its_manifest_check_on_restore(tmp_path: Path):
    plain = _plain(2 * FRAME_PLAIN, 13)
    artifact = _write(tmp_path, plain)
    sha = hashlib.sha256(artifact.read_bytes()).hexdigest()
    data = bytearray(artifact.read_bytes())
    data[_frame_offset(artifact, 1) + 100] ^= 0x08
    artifact.write_bytes(bytes(data))
    out = tmp_path / "out.db"
    with pytest.raises(CorruptSnapshot):
        decompress_file(artifact, out, expected_sha256=sha, expected_size=len(data))
    assert not out.exists()


def test_a_cut_seek_table_is_no_seek_table_and_a_restore_says_it_is_damaged(tmp_path: Path):
    plain = _plain(2 * FRAME_PLAIN + PAGE, 17)
    artifact = _write(tmp_path, plain)
    whole = artifact.read_bytes()
    sha = hashlib.sha256(whole).hexdigest()
    artifact.write_bytes(whole[:-5])
    assert open_seekable(artifact) is None  # readers fall back to reading from the start
    out = tmp_path / "out.db"
    with pytest.raises(CorruptSnapshot, match=r"has .* bytes, its manifest says|SHA-256"):
        decompress_file(artifact, out, expected_sha256=sha, expected_size=len(whole))
    assert not out.exists()


def test_a_seek_table_whose_sizes_do_not_add_up_is_refused(tmp_path: Path):
    artifact = _write(tmp_path, _plain(FRAME_PLAIN + 10, 19))
    data = bytearray(artifact.read_bytes())
    table_at = len(data) - FOOTER.size - 2 * 12 - SKIPPABLE_HEADER.size
    data[table_at + SKIPPABLE_HEADER.size] ^= 0x01  # frame 0's compressed size
    artifact.write_bytes(bytes(data))
    assert seek_entries(artifact) is None
    with pytest.raises(ValueError, match="do not add up"):
        read_seek_table(lambda at, n: bytes(data[at : at + n]), len(data))


def test_rechunk_cuts_a_header_and_whole_records():
    blocks = [b"H" * 10, b"r" * 7, b"r" * 30, b"r" * 3]  # 10 + 40 bytes of records
    pieces = list(rechunk(blocks, 10 + 16, 16))
    assert [len(p) for p in pieces] == [26, 16, 8]
    assert b"".join(pieces) == b"".join(blocks)


@pytest.mark.parametrize("with_sums", [True, False])
def test_seek_entries_read_back_are_those_written(with_sums: bool):
    """The entries read (kept as the table's bytes, each made when asked for) are the
    ones packed, by index from either end, by slice and in order; past the end is an
    IndexError."""
    rng = random.Random(3)
    packed = [
        SeekEntry(rng.randrange(1, 5000), rng.randrange(0, 1 << 17), rng.randrange(1 << 32))
        for _ in range(37)
    ]
    table = pack_seek_table(packed)
    if not with_sums:  # the same table without its checksum column
        count = len(packed)
        raw = b"".join(struct.pack("<II", e.compressed, e.decompressed) for e in packed)
        footer = FOOTER.pack(count, 0, SEEKABLE_MAGIC)
        table = SKIPPABLE_HEADER.pack(SEEK_TABLE_MAGIC, len(raw) + len(footer)) + raw + footer
        packed = [SeekEntry(e.compressed, e.decompressed, None) for e in packed]
    data = bytes(sum(e.compressed for e in packed)) + table
    read = read_seek_table(lambda at, size: data[at : at + size], len(data))
    assert list(read) == packed and len(read) == len(packed)
    assert [read[i] for i in range(-len(read), len(read))] == packed * 2
    assert read[1:-1] == packed[1:-1] and read[::3] == packed[::3]
    with pytest.raises(IndexError):
        read[len(read)]
