"""Streaming compression: stock zstd reads it; any damage is caught."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lifeboat.core.compress import compress_file
from lifeboat.core.decompress import decompress_file
from lifeboat.foundation.errors import CorruptSnapshot


@pytest.fixture
def packed(tmp_path: Path) -> tuple[Path, Path, object]:
    plain = tmp_path / "plain.bin"
    plain.write_bytes(os.urandom(300_000) + b"\0" * 5_000_000 + b"abc" * 100_000)
    artifact = tmp_path / "plain.bin.zst"
    result = compress_file(plain, artifact)
    return plain, artifact, result


def test_round_trip_and_hashes(tmp_path: Path, packed):
    plain, artifact, result = packed
    assert result.sha256 == hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert result.plain_sha256 == hashlib.sha256(plain.read_bytes()).hexdigest()
    out = tmp_path / "out.bin"
    back = decompress_file(
        artifact, out, expected_sha256=result.sha256, expected_size=result.size, hash_plain=True
    )
    assert out.read_bytes() == plain.read_bytes()
    assert back.plain_sha256 == result.plain_sha256


@pytest.mark.skipif(not shutil.which("zstd"), reason="needs zstd")
def test_stock_zstd_reads_it(tmp_path: Path, packed):
    plain, artifact, _ = packed
    out = tmp_path / "stock.bin"
    subprocess.run(["zstd", "-d", "-q", str(artifact), "-o", str(out)], check=True)
    assert out.read_bytes() == plain.read_bytes()


@pytest.mark.parametrize("where", [0.0, 0.3, 0.6, 0.999])
def test_flipped_byte_is_caught(tmp_path: Path, packed, where: float):
    _, artifact, result = packed
    data = bytearray(artifact.read_bytes())
    data[int(len(data) * where)] ^= 0x01
    artifact.write_bytes(bytes(data))
    out = tmp_path / "out.bin"
    with pytest.raises(CorruptSnapshot):
        decompress_file(artifact, out, expected_sha256=result.sha256)
    assert not out.exists()


def test_truncation_is_caught_even_without_a_manifest(tmp_path: Path, packed):
    _, artifact, _ = packed
    artifact.write_bytes(artifact.read_bytes()[:-100])
    with pytest.raises(CorruptSnapshot, match=r"truncated|does not decompress"):
        decompress_file(artifact, None)


def test_trailing_bytes_change_the_hash(tmp_path: Path, packed):
    _, artifact, result = packed
    with open(artifact, "ab") as fh:
        fh.write(b"junk")
    with pytest.raises(CorruptSnapshot, match=r"SHA-256|does not decompress"):
        decompress_file(artifact, None, expected_sha256=result.sha256)


def test_not_a_zstd_file(tmp_path: Path):
    bogus = tmp_path / "x.zst"
    bogus.write_bytes(b"hello world, not zstd at all" * 10)
    with pytest.raises(CorruptSnapshot):
        decompress_file(bogus, None)


def test_output_is_bounded_for_highly_compressible_data(tmp_path: Path):
    plain = tmp_path / "zeros.bin"
    with open(plain, "wb") as fh:
        fh.truncate(64 << 20)
    artifact = tmp_path / "zeros.zst"
    compress_file(plain, artifact)
    sizes: list[int] = []
    decompress_file(artifact, None, observer=lambda block: sizes.append(len(block)))
    assert sum(sizes) == 64 << 20
    assert max(sizes) <= 4 << 20
