"""Frames of a seekable artifact decompressed by a small pool of threads, handed out in order.

zstandard's decompress and os.pread release the GIL, so two threads decompress two frames
at once while the caller uses the ones before (writes them, hashes them). At most `ahead`
results are in flight or waiting, so memory stays about `ahead` frames (plain and stored
bytes) whatever the size of the artifact.

The API is two functions:

- `ordered_map(work, items, workers=, ahead=)`: a context manager giving an iterator of
  `work(item)` for each item, in the items' order, computed in the pool. An exception
  from `work` is raised where its result would have come out. Leaving the block (early,
  or on an error) cancels what has not started and waits for what has: no thread of the
  pool outlives the block.
- `parallel_frames(artifact, workers=, ahead=)`: every frame of a SeekableArtifact
  (core/seekable.py) in file order, as `Frame(number, raw, plain)`; a skippable frame
  (an index) has plain b"". Each is checked as SeekableArtifact.read_frame checks it
  (zstd's checksum, the plain size, the seek table's checksum): a frame that fails raises
  CorruptSnapshot naming the file and the frame. `raw` is what the file stores: hash the
  raws in order, then `artifact.trailer()`, and you have hashed the whole file.

Used by a point's rebuild (core/history/direct_rebuild.py and images_writer.py: the
pool's threads write the pages themselves; bases.py and rebuild_images.py: blocks and
images handed out in order) and by a restore of a seekable artifact (decompress_frames).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from lifeboat.core.seekable import SeekableArtifact

#: two threads: the machines Lifeboat runs on may have two cores, and the caller's own
#: thread (writing, hashing) needs its share
WORKERS = 2
#: results in flight or waiting: enough that a slow frame does not stall the caller
AHEAD = 8

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Frame:
    number: int
    raw: bytes  # as stored in the file
    plain: bytes  # decompressed and checked (b"" for a skippable frame)


@contextlib.contextmanager
def ordered_map(
    work: Callable[[Item], Result],
    items: Iterable[Item],
    *,
    workers: int = WORKERS,
    ahead: int = AHEAD,
) -> Iterator[Iterator[Result]]:
    """`work(item)` for each item, computed by `workers` threads, handed out in order."""
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="lifeboat-frames")
    pending: deque[Future[Result]] = deque()
    limit = max(1, ahead)

    def results() -> Iterator[Result]:
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    try:
        yield results()
    finally:
        for future in pending:
            future.cancel()
        pending.clear()
        pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def parallel_frames(
    artifact: SeekableArtifact, *, workers: int = WORKERS, ahead: int = AHEAD
) -> Iterator[Iterator[Frame]]:
    """Every frame of `artifact` (which has a seek table), in order, checked."""
    if artifact.entries is None:
        raise ValueError(f"{artifact.path.name} has no seek table")

    def read(number: int) -> Frame:
        raw, plain = artifact.read_frame(number)
        return Frame(number, raw, plain)

    with ordered_map(read, range(len(artifact.entries)), workers=workers, ahead=ahead) as frames:
        yield frames
