"""ExportJob: a snapshot written as a new standalone database file, never over one.

The restore to a new file (RestoreJob) writes a work file beside the target and renames
it into place, which replaces whatever appeared there meanwhile. An export must never
replace a file: the verified database is written under a work name in the target's
folder, then hard-linked to the name the user chose (the link fails if that name exists
by then, atomically) and the work name removed. Where the file system has no hard links,
the name is taken by creating an empty file exclusively and the work file is renamed
over that file of ours.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import replace
from pathlib import Path

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.fsutil import fsync_dir
from lifeboat.core.private import create_file
from lifeboat.core.restore import SIDECARS, check_new_file_target
from lifeboat.core.results import RestoreOutcome
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import LifeboatError
from lifeboat.foundation.progress import CancelToken, Progress
from lifeboat.jobs.base import JobOutcome
from lifeboat.jobs.restore import RestoreJob

#: errors of link(2) that mean "this file system has no hard links", not "name taken"
NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS}


class ExportJob(RestoreJob):
    """Write snapshot `record` as the new file `to` (verified, with the mode its source
    had, 0600 when unknown); refuses a name that exists, before and at the end."""

    def __init__(self, workspace: Workspace, record: SnapshotRecord, *, to: Path) -> None:
        super().__init__(workspace, record, to=to, overwrite=False)
        self.final: Path | None = None

    def prepare(self) -> None:
        assert self.to is not None
        self.final = check_new_file_target(self.to, overwrite=False)
        for sidecar in _sidecars(self.final):
            if os.path.lexists(sidecar):  # SQLite would apply it to the new file
                raise LifeboatError(
                    f"{sidecar} is there, left from an earlier database of that name; "
                    "SQLite would apply it to the copy",
                    "choose another name",
                )
        # The restore writes the work name; the final name is taken at the end.
        self.target = self.workspace.run.work_path(self.final.parent, "export")

    def run(self, progress: Progress, cancel: CancelToken) -> JobOutcome[RestoreOutcome]:
        assert self.final is not None and self.target is not None, "prepare() first"
        work = self.target
        try:
            outcome = super().run(progress, cancel)
            cancel.check()
            _publish_with_sidecars(work, self.final)
        finally:
            for made in (work, *_sidecars(work)):
                with contextlib.suppress(OSError):
                    made.unlink()
        result = replace(outcome.result, target=self.final)
        return replace(outcome, result=result, detail=result.to_json())


def _publish_with_sidecars(work: Path, final: Path) -> None:
    """A raw copy may bring its -wal and -shm: they get their names first, the database
    last; if the database's name is taken meanwhile, the sidecars just named go again
    (never left beside a file that is not ours)."""
    named: list[Path] = []
    try:
        for made, sidecar in zip(_sidecars(work), _sidecars(final), strict=True):
            if os.path.lexists(made):
                publish_new(made, sidecar)
                named.append(sidecar)
        publish_new(work, final)
    except BaseException:
        for sidecar in named:
            with contextlib.suppress(OSError):
                sidecar.unlink()
        raise


def publish_new(work: Path, final: Path) -> None:
    """Give the finished file `work` the name `final`, which must not exist (then or at
    any moment in between: nothing there is ever replaced)."""
    try:
        os.link(work, final, follow_symlinks=False)
    except FileExistsError:
        raise _taken(final) from None
    except OSError as exc:
        if exc.errno not in NO_LINKS:
            raise
        try:
            os.close(create_file(final))  # exclusively: ours from now on
        except FileExistsError:
            raise _taken(final) from None
        os.replace(work, final)
    fsync_dir(final.parent)


def _sidecars(path: Path) -> list[Path]:
    return [Path(f"{path}{suffix}") for suffix in SIDECARS]


def _taken(final: Path) -> LifeboatError:
    return LifeboatError(
        f"{final} was created while the snapshot was being written; it was left as it is",
        "choose another name",
    )
