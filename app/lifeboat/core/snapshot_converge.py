"""A WAL snapshot packed while it is copied: the converging copy (core/wal_converge.py)
runs in a thread, and the compressor follows its first, unlocked pass through the
scratch file (core/wal_scratch.following_frames) instead of waiting for the whole copy.

Why: the copy is a pass over the whole file (0.35 to 0.7 s per GiB here) during which
the compressor's threads had nothing to do; compressing is the snapshot's longest step.

What is packed must be exactly the copy that is checked and described. The first pass
writes page 1 as the finished copy holds it (standalone); whatever changes a byte of the
copy after that pass wrote it (a later pass, the locked compare finding a page a
checkpoint wrote meanwhile, the size, page 1) sets `rewrote`, and then what was packed
is dropped and the converged copy is packed again from scratch, as it was before this
module (the price of a checkpoint during the copy: that packing's work, once). The
check starts as soon as the copy is converged, beside the compressor.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lifeboat.core.dbcheck import CheckResult
from lifeboat.core.dbcopy import CopyResult
from lifeboat.core.dbinspect import Inventory
from lifeboat.core.kept_descriptors import pinned, unpin
from lifeboat.core.seekable_write import FRAME_PLAIN
from lifeboat.core.snapshot_frozen import Owners, check_count_and_map
from lifeboat.core.snapshot_pack import Packed, pack, pack_copy
from lifeboat.core.snapshot_request import SnapshotRequest
from lifeboat.core.sqlite_file import header_page_size
from lifeboat.core.wal_converge import ConvergedWal, converge_wal
from lifeboat.core.wal_scratch import CopyAhead, CopyFailed, following_frames
from lifeboat.foundation.progress import CancelToken, Progress

Taken = tuple[CopyResult, CheckResult, Inventory | None, Packed, Owners]
_Checked = tuple[CheckResult, Inventory | None, Owners]


class _OneBar:
    """The copy's progress, told from the copier's thread until the copy is converged
    (its first pass, then the locked compare: `copied`), then the packing's: a bar moves
    through "copy", then "compress", never back, told by one thread at a time. So
    "compress" is told only of a copy that holds its final state; the packing's last
    report before that (a small database is packed before its copy converged) is told
    then."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._lock = threading.Lock()
        self._copied = False
        self._held: tuple[str, int, int] | None = None

    def copy(self, phase: str, done: int, total: int) -> None:
        with self._lock:
            if not self._copied:
                self._progress(phase, done, total)

    def copied(self, size: int) -> None:
        with self._lock:
            self._progress("copy", size, size)
            self._copied = True
            if self._held is not None:
                self._progress(*self._held)

    def pack(self, phase: str, done: int, total: int) -> None:
        with self._lock:
            if self._copied:
                self._progress(phase, done, total)
            else:
                self._held = (phase, done, total)


class _Convergence:
    """The converging copy in its thread; `outcome` once `done` is set."""

    def __init__(
        self,
        request: SnapshotRequest,
        copy_path: Path,
        ahead: CopyAhead,
        bar: _OneBar,
        cancel: CancelToken,
    ) -> None:
        self.done = threading.Event()
        self.outcome: ConvergedWal | None = None
        self.error: BaseException | None = None
        self._copy = (request.source_path, copy_path, request.copy.busy_timeout)
        self._thread = threading.Thread(
            target=self._run, args=(ahead, bar, cancel), name="lifeboat-copy"
        )
        self._thread.start()

    def _run(self, ahead: CopyAhead, bar: _OneBar, cancel: CancelToken) -> None:
        try:
            self.outcome = converge_wal(*self._copy, bar.copy, cancel, ahead)
            if self.outcome is not None:
                bar.copied(self.outcome.page_count * self.outcome.page_size)
        except BaseException as exc:
            self.error = exc
        finally:
            if self.outcome is None:  # the reader stops waiting for what will not come
                ahead.failed(self.error or OSError("the copy did not converge"))
            self.done.set()

    def join(self) -> ConvergedWal | None:
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.outcome


def converge_ahead_and_pack(
    request: SnapshotRequest,
    copy_path: Path,
    written: list[Path],
    progress: Progress,
    cancel: CancelToken,
) -> Taken | None:
    """The WAL database copied by core/wal_converge.py and packed as it is copied (see
    the module's docstring); None when its file cannot be proven to hold it all (then
    copy it the usual way: `copy_path` may be left, an abandoned attempt of this run)."""
    shape = _first_shape(request.source_path)
    if shape is None:
        return None
    started = time.monotonic()
    ahead = CopyAhead(shape[0])
    bar = _OneBar(progress)
    convergence = _Convergence(request, copy_path, ahead, bar, cancel)
    with ThreadPoolExecutor(1, thread_name_prefix="lifeboat-check") as pool:
        checking = pool.submit(_check_once_converged, copy_path, request, convergence, ahead)
        try:
            packed = _pack_following(request, copy_path, ahead, shape, written, bar.pack, cancel)
        except BaseException:
            ahead.stop()  # the copier stops at its next chunk
            with contextlib.suppress(BaseException):
                convergence.join()
            raise
        converged = convergence.join()
        if converged is None:
            _drop(packed, written)
            return None
        packed_again = packed is None or converged.rewrote or _shape_of(converged) != shape
        if packed is None or packed_again:
            _drop(packed, written)  # not the copy's bytes: packed again, from the copy
            packed = pack_copy(request, copy_path, converged.page_size, written, progress, cancel)
        checked = checking.result()
    assert checked is not None  # converged: the check ran
    copied = CopyResult(
        converged.page_size,
        converged.page_count,
        True,
        "wal-converge",
        0,
        time.monotonic() - started,
        locked_seconds=converged.held_seconds,  # read lock 0: no checkpoint meanwhile
        locked_at=converged.held_from,
        packed_again=packed_again,
    )
    return copied, checked[0], checked[1], packed, checked[2]


def _pack_following(
    request: SnapshotRequest,
    copy_path: Path,
    ahead: CopyAhead,
    shape: tuple[int, int],
    written: list[Path],
    progress: Progress,
    cancel: CancelToken,
) -> Packed | None:
    """The copy packed as its first pass writes it; None when that pass fell short or
    the copy failed (the caller learns which from the copier)."""
    size, page_size = shape

    def read() -> Iterator[bytes]:
        ahead.wait_for(min(size, 1))  # the copier has created the file
        try:
            for frame in following_frames(copy_path, ahead, FRAME_PLAIN):
                ahead.wait_out_locked_step()  # the app's checkpoints wait for that step
                yield frame
        except OSError as exc:
            # A read of the copy (cut short under the reader when the database shrank
            # meanwhile): the copier's outcome says whether it is packed again or fails.
            raise CopyFailed(exc) from None

    try:
        return pack(request, read, size, page_size, written, progress, cancel)
    except CopyFailed:
        return None


def _check_once_converged(
    copy_path: Path, request: SnapshotRequest, convergence: _Convergence, ahead: CopyAhead
) -> _Checked | None:
    convergence.done.wait()
    if convergence.outcome is None or ahead.stopped:
        return None  # no copy, or the snapshot failed: nothing to check
    return check_count_and_map(copy_path, request)


def _first_shape(path: Path) -> tuple[int, int] | None:
    """(size, page size) of the database file now, as its header says; None when it
    does not look like a whole database file."""
    try:
        fd, _ = pinned(path)  # never closed here: that would drop this process's locks
    except OSError:
        return None
    try:
        size, header = os.fstat(fd).st_size, os.pread(fd, 100, 0)
    finally:
        unpin(fd)
    if len(header) < 100:
        return None
    page_size = header_page_size(header)
    if page_size < 512 or page_size & (page_size - 1) or not size or size % page_size:
        return None
    return size, page_size


def _shape_of(converged: ConvergedWal) -> tuple[int, int]:
    return converged.page_count * converged.page_size, converged.page_size


def _drop(packed: Packed | None, written: list[Path]) -> None:
    """Remove what was packed (work files of this run, never committed)."""
    if packed is None:
        return
    for path in (packed.artifact, packed.pages):
        if path is not None:
            with contextlib.suppress(OSError):
                os.unlink(path)
                if path in written:
                    written.remove(path)  # else the run's end removes it
