"""The parallel frame reader (core/seekable_parallel.py): the same frames in the same
order as reading them one by one, damage named, no thread left behind."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from lifeboat.core.seekable import SeekableArtifact
from lifeboat.core.seekable_parallel import ordered_map, parallel_frames
from lifeboat.core.seekable_write import FRAME_PLAIN
from lifeboat.foundation.errors import CorruptSnapshot
from tests.core.test_seekable import _frame_offset, _plain, _write


def _pool_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("lifeboat-frames")]


@pytest.mark.parametrize("workers, ahead", [(1, 1), (2, 3), (3, 8)])
def test_frames_come_in_order_and_hash_to_the_whole_file(tmp_path: Path, workers: int, ahead: int):
    plain = _plain(23 * FRAME_PLAIN + 4096, 21)
    artifact = _write(tmp_path, plain)
    with SeekableArtifact(artifact) as reader:
        digest = hashlib.sha256()
        parts = []
        with parallel_frames(reader, workers=workers, ahead=ahead) as frames:
            for expected, frame in enumerate(frames):
                assert frame.number == expected
                digest.update(frame.raw)
                parts.append(frame.plain)
        digest.update(reader.trailer())
    assert b"".join(parts) == plain
    assert digest.hexdigest() == hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert len(parts) == 24
    assert not _pool_threads()


def test_a_damaged_frame_is_named_in_order_after_the_good_ones(tmp_path: Path):
    plain = _plain(12 * FRAME_PLAIN, 5)
    artifact = _write(tmp_path, plain)
    data = bytearray(artifact.read_bytes())
    data[_frame_offset(artifact, 7) + 300] ^= 0x10
    artifact.write_bytes(bytes(data))
    seen = []
    with (
        SeekableArtifact(artifact) as reader,
        parallel_frames(reader, ahead=6) as frames,
        pytest.raises(CorruptSnapshot, match="frame 7"),
    ):
        for frame in frames:
            seen.append(frame.number)
    assert seen == list(range(7))  # every frame before it, none after
    assert not _pool_threads()


def test_leaving_early_waits_for_the_pool_and_runs_nothing_more(tmp_path: Path):
    started: list[int] = []
    lock = threading.Lock()

    def work(item: int) -> int:
        with lock:
            started.append(item)
        return item * 2

    with ordered_map(work, range(1000), workers=2, ahead=4) as results:
        assert [next(results) for _ in range(3)] == [0, 2, 4]
    assert not _pool_threads()
    ran = len(started)
    assert ran <= 3 + 4  # what was handed out and what was in flight, no more
    assert len(started) == ran  # nothing runs after the block


def test_an_error_in_the_work_is_raised_where_its_result_was_due():
    def work(item: int) -> int:
        if item == 5:
            raise OSError("disk went away")
        return item

    got = []
    with (
        pytest.raises(OSError, match="disk went away"),
        ordered_map(work, range(50), workers=2, ahead=3) as results,
    ):
        got.extend(results)
    assert got == [0, 1, 2, 3, 4]
    assert not _pool_threads()
