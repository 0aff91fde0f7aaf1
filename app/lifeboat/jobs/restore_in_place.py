"""The write of an in-place restore (jobs/restore.py): three things at once, one commit.

- the restored copy is extracted, proven and (if the proof does not replace it) checked
  into a scratch file, in a thread (`produce_checked`);
- the protected safety snapshot of the database as it is now is taken, in a thread;
- SQLite's backup API writes the copy into the database, one write transaction, each
  step reading only pages the extraction has already written (core/written_so_far.py).

In WAL mode the write goes to the WAL, and the safety snapshot reads the database file
under WAL read lock 0 (core/wal_direct.py): neither disturbs the other; a
rollback-journal database is written only once the safety snapshot is taken
(core/restore.replace_in_place's `alone`). The committing step waits for the proof, the
check and the safety snapshot (`before_commit`): a failure of any rolls the write back,
nothing changed. A safety snapshot is kept only when the copy was extracted and proven
(jobs/restore.py lets the extraction's proof of the restored artifact stand for the
safety snapshot's proof of its base, when they are the same file). Under the write
lock, a database found to hold the restored content already is left as it was
(core/restore_unchanged.py).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from lifeboat.core.restore import RestoreResult, replace_in_place
from lifeboat.core.restore_steps import CopyReading, follow_window
from lifeboat.core.restore_unchanged import holds_snapshot, same_content
from lifeboat.core.scratch_release import ReadBehind
from lifeboat.core.written_so_far import WrittenSoFar
from lifeboat.foundation.progress import CancelToken, Progress, no_progress
from lifeboat.jobs.prune import delete_snapshot

log = logging.getLogger(__name__)

#: the copy's first bytes, never freed: every backup step reads its header again
_HEADER_KEPT = 65536

if TYPE_CHECKING:
    from lifeboat.core.config_model import SourceConfig
    from lifeboat.jobs.restore import RestoreJob, SafetyCopy


def write_in_place(
    job: RestoreJob,
    src: SourceConfig,
    folder: Path,
    verified: Path,
    produce: Callable[[Path], None],
    check: Callable[[Path], None] | None,
    written: WrittenSoFar,
    progress: Progress,
    cancel: CancelToken,
) -> tuple[RestoreResult, str | None]:
    """The restore's result and the safety snapshot kept for it (see the docstring)."""
    assert job.target is not None
    busy_timeout = job.workspace.config().general.busy_timeout
    behind = _read_behind(job, verified, written)  # before the extraction starts
    with ThreadPoolExecutor(2, thread_name_prefix="lifeboat-restore") as pool:
        taking = pool.submit(job._safety_copy, src, folder, no_progress, cancel)
        producing = pool.submit(produce_checked, produce, check, verified, written)

        def ready_to_commit() -> None:
            producing.result()
            taking.result()

        try:
            with _only_reader(written, behind):
                result = replace_in_place(
                    verified,
                    job.target,
                    page_size=job.record.manifest.page_size,
                    run=job.workspace.run,
                    busy_timeout=busy_timeout,
                    progress=progress,
                    cancel=cancel,
                    before_commit=ready_to_commit,
                    # its pages freed beside the checkpoint, not after it
                    reading=_reading(
                        written, behind, cancel, lambda: pool.submit(_remove, verified)
                    ),
                    alone=taking.result,
                    already_held=_held_asked_once(job, taking, busy_timeout),
                )
            producing.result()  # nothing written: still, a damaged snapshot is said so
        except BaseException:
            # Kept only if the copy was extracted and proven (waited for: the write may
            # have failed first): the safety snapshot's base may rest on that proof
            if producing.exception() is not None:
                job._discard(taking)  # the restore will not happen
            raise
    safety = taking.result()
    if safety is None:
        return result, None
    if result.method == "unchanged":
        log.info("%s already holds snapshot %s: nothing written", job.target, job.record.id)
        _drop_unneeded(job, safety)
        return result, None
    return result, safety.id


def _held_asked_once(
    job: RestoreJob, taking: Future[SafetyCopy | None], busy_timeout: float
) -> Callable[[bool], bool]:
    """Whether the target holds the snapshot already: asked once, when the safety
    snapshot is taken (the write lock is kept from then on) or at the final step."""
    found: list[bool] = []

    def already_held(final: bool) -> bool:
        if not found and (final or taking.done()):
            found.append(holds_restored(job, taking.result(), busy_timeout))
        return bool(found) and found[0]

    return already_held


@contextlib.contextmanager
def _only_reader(written: WrittenSoFar, behind: ReadBehind | None) -> Iterator[None]:
    """The write, the copy's only reader: once it returned or failed it reads no more,
    and the extraction (if still going) is let go on freely before anyone waits for it."""
    try:
        yield
    finally:
        written.unfollow()
        if behind is not None:
            log.debug("%d MiB of the copy freed behind the write", behind.freed >> 20)
            behind.close()


def _read_behind(job: RestoreJob, verified: Path, written: WrittenSoFar) -> ReadBehind | None:
    """What frees the copy as the write reads it (core/scratch_release.py), the
    extraction held a window ahead of the write; None where it must stay whole (a check
    may be owed) or nothing can be freed here."""
    if not written.freeable or not written.size:
        return None
    page_size = job.record.manifest.page_size
    behind = ReadBehind(verified, keep=max(page_size, _HEADER_KEPT))
    if not behind.active:
        return None
    written.follow(follow_window(page_size))
    return behind


def _reading(
    written: WrittenSoFar,
    behind: ReadBehind | None,
    cancel: CancelToken,
    finished: Callable[[], object],
) -> CopyReading:
    """How the write reads the copy: each step once its pages are written, freeing it
    behind where `behind` may, `finished` once the write committed."""

    def done_with(size: int) -> None:
        if behind is not None:
            behind.release(size)  # freed first, then the extraction let on into it
            written.consumed(size)

    return CopyReading(
        ready=lambda size: written.wait_for(size, cancel),
        done_with=done_with,
        finished=finished,
        whole=written.unfollow,  # a file replace: nothing was freed, none will be
    )


def _remove(verified: Path) -> None:
    """The verified copy, written into the target: removed (jobs/restore.py removes it
    too, whatever happened)."""
    with contextlib.suppress(OSError):
        verified.unlink()


def produce_checked(
    produce: Callable[[Path], None],
    check: Callable[[Path], None] | None,
    verified: Path,
    written: WrittenSoFar,
) -> None:
    """Extract and prove the copy (the write following it), then run the check owed."""
    try:
        produce(verified)
    except BaseException as exc:
        written.fail(exc)  # the write, waiting for pages, rolls back
        raise
    written.finish()
    if check is not None:
        check(verified)


def holds_restored(job: RestoreJob, safety: SafetyCopy | None, busy_timeout: float) -> bool:
    """Whether the database already holds exactly the snapshot being restored: its
    safety snapshot records the same content, proven again under the write lock."""
    if job.point is not None or safety is None:
        return False
    assert job.target is not None
    before = job.workspace.catalog.snapshot(safety.id).manifest
    restored = job.record.manifest
    return same_content(before, restored) and holds_snapshot(job.target, restored, busy_timeout)


def _drop_unneeded(job: RestoreJob, safety: SafetyCopy) -> None:
    """Nothing was written: a safety snapshot taken for it holds what the restored
    snapshot holds, and goes (one that was there before stays)."""
    if safety.taken:
        delete_snapshot(job.workspace, job.workspace.catalog.snapshot(safety.id))
