"""What writes a snapshot into a restore's scratch file (jobs/restore.py): extracted and
hash-checked, its bytes proven to be the ones the snapshot's own check passed, or else
checked (core/verify.py). In place, a check the proof does not replace is left owed and
runs beside the write into the database, which commits only once it passed
(core/restore.replace_in_place's `before_commit`)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from lifeboat.core.page_digest import recorded_digest, snapshot_check_passed
from lifeboat.core.runs import Run
from lifeboat.core.verify import check_extracted, extract_check_owed, extract_verified
from lifeboat.core.written_so_far import WrittenSoFar
from lifeboat.foundation.progress import CancelToken, Progress
from lifeboat.remote.fetch import SnapshotFiles


class SnapshotExtraction:
    def __init__(
        self,
        files: SnapshotFiles,
        check: str,
        in_place: bool,
        progress: Progress,
        cancel: CancelToken,
    ) -> None:
        self.files = files
        self.manifest = files.manifest
        self.check = check
        self.in_place = in_place
        self.progress = progress
        self.cancel = cancel
        self._owed = False
        #: how far extract() has written its file (in place, the write follows it)
        self.written = WrittenSoFar(self.manifest.db_size)
        self.written.freeable = in_place and self._never_owed()

    def _never_owed(self) -> bool:
        """Whether no check of the whole copy can be left owed: none is asked for, or the
        proof stands for it (a full snapshot whose manifest records its passed check and
        content digest: only a digest disagreeing with its own proven artifact leaves
        it owed, and check_owed then extracts a whole copy again to check)."""
        if self.manifest.kind == "diff":
            return False
        if self.check == "none":
            return True
        passed = snapshot_check_passed(self.manifest, self.check)
        return passed and recorded_digest(self.manifest) is not None

    def extract(self, dest: Path) -> None:
        """Write the snapshot into the new file `dest`. In place, the verified copy is
        only read back by the backup API and deleted (what must be durable is the
        target's own commit): no writeback of a scratch file about to go."""
        if not self.in_place:
            extract_verified(
                self.files.folder,
                self.manifest,
                dest,
                check=self.check,
                progress=self.progress,
                cancel=self.cancel,
                base=self.files.base,
                proof_replaces_check=True,
            )
            return
        self._owed = extract_check_owed(
            self.files.folder,
            self.manifest,
            dest,
            check=self.check,
            progress=self.progress,
            cancel=self.cancel,
            base=self.files.base,
            durable=False,
            written=self.written,
        )

    def check_owed(self, dest: Path) -> None:
        """The check extract() left owed, if any (raises CorruptSnapshot if it fails).
        Where the write freed what it read of `dest` (a manifest whose digest disagrees
        with its own proven artifact: rare), the check runs on a whole copy extracted
        again beside it: the same proven bytes. A copy the write read whole (a file
        replace) is checked itself."""
        if not self._owed:
            return
        if not self.written.read_away:
            check_extracted(dest, self.manifest, self.check)
            return
        whole = Run.work_beside(dest, "whole")  # swept with `dest` if the run is killed
        try:
            if extract_check_owed(
                self.files.folder,
                self.manifest,
                whole,
                check=self.check,
                cancel=self.cancel,
                durable=False,
            ):
                check_extracted(whole, self.manifest, self.check)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(whole)
