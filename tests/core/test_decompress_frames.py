"""A seekable artifact decompressed on two threads (core/decompress_frames.py, through
decompress_file): the same bytes and the same hash as reading it in one go, damage named
and nothing left behind (no output file, no thread), a cancel stops it."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from lifeboat.core import decompress_frames
from lifeboat.core.decompress import decompress_file
from lifeboat.core.seekable_write import FRAME_PLAIN
from lifeboat.foundation.errors import Cancelled, CorruptSnapshot
from lifeboat.foundation.progress import CancelToken
from tests.core.test_seekable import _frame_offset, _plain, _write

# More frames than two batches, and a last frame cut short: every batch edge is crossed.
SIZE = (2 * decompress_frames.BATCH_FRAMES + 3) * FRAME_PLAIN + 4096 + 17


def _our_threads() -> list[threading.Thread]:
    names = ("lifeboat-frames", "lifeboat-write")
    return [t for t in threading.enumerate() if t.name.startswith(names)]


@pytest.mark.parametrize("durable", [True, False])
def test_the_output_and_both_hashes_equal_reading_it_in_one_go(tmp_path: Path, durable: bool):
    plain = _plain(SIZE, 3)
    artifact = _write(tmp_path, plain)
    whole = artifact.read_bytes()
    seen: list[bytes] = []
    out = tmp_path / "out.db"
    result = decompress_file(
        artifact,
        out,
        expected_sha256=hashlib.sha256(whole).hexdigest(),
        expected_size=len(whole),
        hash_plain=True,
        observer=lambda block: seen.append(bytes(block)),
        durable=durable,
    )
    assert out.read_bytes() == plain
    assert out.stat().st_mode & 0o777 == 0o600
    assert result.sha256 == hashlib.sha256(whole).hexdigest()
    assert result.plain_sha256 == hashlib.sha256(plain).hexdigest()
    assert result.plain_size == len(plain) and result.size == len(whole)
    assert b"".join(seen) == plain  # the observer sees every block, in order
    assert not _our_threads()


def test_checking_without_an_output_file_hashes_the_same(tmp_path: Path):
    plain = _plain(3 * FRAME_PLAIN, 5)
    artifact = _write(tmp_path, plain)
    result = decompress_file(artifact, None, hash_plain=True)
    assert result.sha256 == hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert result.plain_sha256 == hashlib.sha256(plain).hexdigest()


@pytest.mark.parametrize("frame", [0, decompress_frames.BATCH_FRAMES + 1])
def test_a_damaged_frame_is_named_and_leaves_no_file_and_no_thread(tmp_path: Path, frame: int):
    plain = _plain(SIZE, 7)
    artifact = _write(tmp_path, plain)
    whole = artifact.read_bytes()
    sha = hashlib.sha256(whole).hexdigest()
    data = bytearray(whole)
    data[_frame_offset(artifact, frame) + 100] ^= 0x08
    artifact.write_bytes(bytes(data))
    out = tmp_path / "out.db"
    with pytest.raises(CorruptSnapshot, match=rf"frame {frame}\b"):
        decompress_file(artifact, out, expected_sha256=sha, expected_size=len(data))
    assert not out.exists()
    assert not _our_threads()


def test_damage_in_the_seek_table_checksums_is_found(tmp_path: Path):
    """A seek table whose checksum of a frame was changed: that frame is named."""
    plain = _plain(3 * FRAME_PLAIN, 9)
    artifact = _write(tmp_path, plain)
    data = bytearray(artifact.read_bytes())
    sha = hashlib.sha256(data).hexdigest()
    table_at = len(data) - 9 - 3 * 12  # footer, then 12 bytes per entry
    data[table_at + 12 + 8] ^= 0x01  # frame 1's checksum
    artifact.write_bytes(bytes(data))
    out = tmp_path / "out.db"
    with pytest.raises(CorruptSnapshot, match="frame 1 does not match its checksum"):
        decompress_file(artifact, out, expected_sha256=sha, expected_size=len(data))
    assert not out.exists()


def test_a_cancel_stops_it_and_removes_the_output(tmp_path: Path):
    artifact = _write(tmp_path, _plain(SIZE, 11))
    cancel = CancelToken()

    def progress(phase: str, done: int, total: int) -> None:
        if done:
            cancel.cancel()

    out = tmp_path / "out.db"
    with pytest.raises(Cancelled):
        decompress_file(artifact, out, progress=progress, cancel=cancel)
    assert not out.exists()
    assert not _our_threads()


def test_an_existing_output_is_never_written_through(tmp_path: Path):
    """The output is created exclusively: a name already there (a link) is refused and
    kept (it is not ours to remove)."""
    artifact = _write(tmp_path, _plain(FRAME_PLAIN, 13))
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    out = tmp_path / "out.db"
    out.symlink_to(victim)
    with pytest.raises(FileExistsError):
        decompress_file(artifact, out)
    assert out.is_symlink() and victim.read_bytes() == b"keep me"
