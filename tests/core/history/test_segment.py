"""The segment format: its plain stream, index, and the zstd seekable format's seek table
(checked against zstd's contrib/seekable_format spec, and against stock `zstd -d`)."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
import xxhash
import zstandard

from lifeboat.core.history.seektable import SeekTableError, read_seek_table
from lifeboat.core.history.segment import (
    FLAG_GAP,
    FLAG_MERGED,
    ZERO_DIGEST,
    CommitRecord,
    SegmentHeader,
    SegmentWriter,
)
from lifeboat.core.history.segment_read import SegmentDamaged, SegmentReader

PAGE = 4096


def _commits(count: int, seed: int = 0) -> list[CommitRecord]:
    out = []
    for k in range(count):
        pages = {1: bytes([k % 256]) * PAGE, 3 + k % 5: os.urandom(PAGE // 2) * 2}
        if k % 17 == 0:  # a big commit, larger than a frame
            pages.update({n: os.urandom(PAGE) for n in range(100, 420)})
        flags = FLAG_MERGED if k % 11 == 5 else (FLAG_GAP if k % 13 == 6 else 0)
        out.append(CommitRecord(1 + k, 1_700_000_000_000_000 + k * 1000, 500 + k, flags, pages))
    return out


def _write(path: Path, commits: list[CommitRecord], digest: bytes = b"\x42" * 32):
    header = SegmentHeader(PAGE, "0a1b2c3d", "cd" * 32, 7, ZERO_DIGEST, 1, len(commits))
    with open(path, "wb") as out:
        writer = SegmentWriter(out, header)
        for commit in commits:
            writer.add(commit)
        return header, writer.finish(digest)


def _plain_stream(header: SegmentHeader, commits: list[CommitRecord], digest: bytes) -> bytes:
    """The plain stream as the format's description says, built independently."""
    out = io.BytesIO()
    out.write(b"LBSEGMT\x00" + struct.pack(">HI", 1, PAGE) + b"0a1b2c3d")
    out.write(bytes.fromhex(header.base_sha256) + struct.pack(">I", 7) + bytes(32))
    out.write(struct.pack(">QI", 1, len(commits)))
    for c in commits:
        out.write(
            b"CMIT" + struct.pack(">QQIII", c.seq, c.time_us, c.page_count, c.flags, len(c.pages))
        )
        for number in sorted(c.pages):
            out.write(struct.pack(">I", number) + c.pages[number])
    out.write(b"SEND" + digest)
    return out.getvalue()


def _spec_seek_table(data: bytes) -> list[tuple[int, int, int | None]]:
    """contrib/seekable_format/zstd_seekable_compression_format.md, read literally."""
    count, descriptor, magic = struct.unpack("<IBI", data[-9:])
    assert magic == 0x8F92EAB1
    assert descriptor & 0x7C == 0  # reserved bits
    checksums = bool(descriptor & 0x80)
    size = 12 if checksums else 8
    table = data[-9 - count * size : -9]
    skip_magic, frame_size = struct.unpack("<II", data[-9 - count * size - 8 : -9 - count * size])
    assert skip_magic == 0x184D2A5E and frame_size == count * size + 9
    entries = []
    for i in range(count):
        fields = struct.unpack_from("<III" if checksums else "<II", table, i * size)
        entries.append((fields[0], fields[1], fields[2] if checksums else None))
    return entries


def test_stock_zstd_gives_the_plain_stream(tmp_path):
    if shutil.which("zstd") is None:
        pytest.skip("zstd is not installed")
    commits = _commits(60)
    header, written = _write(tmp_path / "a.seg.zst", commits)
    plain = subprocess.run(
        ["zstd", "-d", "-c", str(tmp_path / "a.seg.zst")], capture_output=True, check=True
    ).stdout
    assert plain == _plain_stream(header, commits, b"\x42" * 32)
    assert written.plain_size == len(plain)
    assert written.sha256 == hashlib.sha256((tmp_path / "a.seg.zst").read_bytes()).hexdigest()


def test_the_seek_table_follows_the_seekable_format(tmp_path):
    commits = _commits(60)
    _write(tmp_path / "a.seg.zst", commits)
    data = (tmp_path / "a.seg.zst").read_bytes()
    entries = _spec_seek_table(data)
    assert len(entries) >= 3  # frames of about 1 MiB, then the index frame
    at = 0
    for compressed, decompressed, checksum in entries:
        frame = data[at : at + compressed]
        if decompressed == 0:  # our index: a skippable frame (magic 0x184D2A5B)
            magic, length = struct.unpack("<II", frame[:8])
            assert magic == 0x184D2A5B and length == compressed - 8
            assert frame[8:16] == b"LBSIDX\x00\x00"
        else:
            plain = zstandard.ZstdDecompressor().decompress(frame)
            assert len(plain) == decompressed
            assert checksum == xxhash.xxh64_intdigest(plain) & 0xFFFFFFFF
            # cut at the first page record past 1 MiB
            assert decompressed <= (1 << 20) + 4 + PAGE + 32
        at += compressed
    assert at == len(data) - (8 + 12 * len(entries) + 9)  # then the seek table itself
    ours = read_seek_table(lambda o, n: data[o : o + n], len(data))
    assert [(e.compressed, e.decompressed, e.checksum) for e in ours] == entries


def test_the_index_finds_every_commit_and_page(tmp_path):
    commits = _commits(60)
    _write(tmp_path / "a.seg.zst", commits)
    with SegmentReader(tmp_path / "a.seg.zst") as reader:
        assert reader.verify() == 60
        assert [c.seq for c in reader.commits] == [c.seq for c in commits]
        assert [c.flags for c in reader.commits] == [c.flags for c in commits]
        for number, ordinal, frame, offset in reader.index.pages:
            assert reader.page(frame, offset) == commits[ordinal].pages[number]
        read = list(reader.iter_commits())
    assert [dict(c.pages) for c in read] == [dict(c.pages) for c in commits]


@pytest.mark.parametrize("where", ["frame", "index", "seek table", "end"])
def test_damage_is_found(tmp_path, where):
    _write(tmp_path / "a.seg.zst", _commits(30))
    path = tmp_path / "a.seg.zst"
    data = bytearray(path.read_bytes())
    entries = _spec_seek_table(bytes(data))
    index_at = sum(e[0] for e in entries[:-1])
    spot = {
        "frame": 200,
        "index": index_at + 40,
        "seek table": len(data) - 20,
        "end": len(data) - 1,
    }[where]
    data[spot] ^= 0x10
    path.write_bytes(data)
    with pytest.raises((SegmentDamaged, SeekTableError)), SegmentReader(path) as reader:
        reader.verify()


def test_truncated_segment_is_damaged(tmp_path):
    _write(tmp_path / "a.seg.zst", _commits(10))
    path = tmp_path / "a.seg.zst"
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(SegmentDamaged):
        SegmentReader(path)
