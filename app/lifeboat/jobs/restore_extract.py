"""What writes a snapshot into a restore's scratch file (jobs/restore.py): extracted and
hash-checked, its bytes proven to be the ones the snapshot's own check passed, or else
checked (core/verify.py). In place, a check the proof does not replace is left owed and
runs beside the write into the database, which commits only once it passed
(core/restore.replace_in_place's `before_commit`)."""

from __future__ import annotations

from pathlib import Path

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
        """The check extract() left owed, if any (raises CorruptSnapshot if it fails)."""
        if self._owed:
            check_extracted(dest, self.manifest, self.check)
