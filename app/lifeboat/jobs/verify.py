"""VerifyJob: re-hash, decompress and check stored snapshots; record the results."""

from __future__ import annotations

import logging
from pathlib import Path

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.encryption import MissingIdentity
from lifeboat.core.hashing import sha256_file
from lifeboat.core.manifest import utc_now
from lifeboat.core.rawcopy import verify_raw_copy
from lifeboat.core.reconstruct import BaseMissing, BaseUnusable
from lifeboat.core.results import VerifyResult
from lifeboat.core.verify import extract_verified
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import CorruptSnapshot, MissingArtifact
from lifeboat.foundation.progress import CancelToken, Progress
from lifeboat.foundation.states import JobKind, JobStatus, SnapshotStatus
from lifeboat.jobs.base import JobOutcome
from lifeboat.remote.fetch import snapshot_files

log = logging.getLogger(__name__)


class VerifyJob:
    kind = JobKind.VERIFY

    def __init__(
        self,
        workspace: Workspace,
        records: list[SnapshotRecord],
        source: str | None = None,
        check: str | None = None,
    ) -> None:
        self.workspace = workspace
        self.records = records
        self.source = source
        self.check = check

    def run(self, progress: Progress, cancel: CancelToken) -> JobOutcome[list[VerifyResult]]:
        config = self.workspace.config()
        scratch_dir = self.workspace.scratch(config)
        results: list[VerifyResult] = []
        for record in self.records:
            cancel.check()
            if not record.local:
                results.append(VerifyResult(record, True, "only remote copies", skipped=True))
                continue
            source = config.sources.get(record.source)
            mode = self.check or (source.check if source else "full")
            scratch = self.workspace.run.work_path(scratch_dir, "verify")
            try:
                self._read_and_check(record, scratch, mode, progress, cancel)
                results.append(VerifyResult(record, True, None))
                self.workspace.catalog.set_status(record.id, SnapshotStatus.OK, None, utc_now())
            except MissingIdentity:
                # Without the key, the encrypted file's own SHA-256 is what can be checked.
                results.append(self._check_ciphertext_only(record))
                continue
            except (BaseUnusable, BaseMissing) as exc:
                # Its base failed, not its own file: not damaged itself (its status
                # stays), but it cannot be restored while the base is as it is.
                results.append(
                    VerifyResult(
                        record,
                        False,
                        exc.message,
                        missing=isinstance(exc, BaseMissing),
                        base_only=True,
                    )
                )
                log.warning("verify: %s", exc.message)
                continue
            except (CorruptSnapshot, MissingArtifact) as exc:
                result = VerifyResult(
                    record, False, exc.message, missing=isinstance(exc, MissingArtifact)
                )
                results.append(result)
                found = SnapshotStatus.MISSING if result.missing else SnapshotStatus.CORRUPT
                self.workspace.catalog.set_status(record.id, found, exc.message, utc_now())
                log.warning("verify: %s", exc.message)
        bad = [r for r in results if not r.ok]
        return JobOutcome(
            result=results,
            status=JobStatus.FAILED if bad else JobStatus.OK,
            detail={"checked": len(results), "bad": [r.record.id for r in bad]},
            message=_verdict(bad),
        )

    def prepare(self) -> None:
        self.workspace.scratch(self.workspace.config())

    def _read_and_check(
        self,
        record: SnapshotRecord,
        scratch: Path,
        mode: str,
        progress: Progress,
        cancel: CancelToken,
    ) -> None:
        """Re-hash a raw copy; decompress (or rebuild) any other snapshot into the new
        file `scratch` and check it with `mode`, then remove it."""
        if record.manifest.kind == "raw":
            verify_raw_copy(record.folder, record.manifest)
        else:
            with snapshot_files(self.workspace, record, progress, cancel) as files:
                extract_verified(
                    files.folder,
                    record.manifest,
                    scratch,
                    check=mode,
                    progress=progress,
                    cancel=cancel,
                    base=files.base,
                )
                _check_owners(record, files.folder, scratch)
            scratch.unlink()

    def _check_ciphertext_only(self, record: SnapshotRecord) -> VerifyResult:
        sealed = record.manifest.local_encryption
        if sealed is None:
            raise MissingIdentity(
                f"snapshot {record.id} needs a key this machine does not hold",
                "import your recovery key: lifeboat key import FILE",
            )
        if sha256_file(record.path) != sealed.sha256:
            problem = (
                f"snapshot {record.id} ({record.source}) is damaged: its encrypted "
                "file does not match its manifest"
            )
            self.workspace.catalog.set_status(record.id, SnapshotStatus.CORRUPT, problem, utc_now())
            return VerifyResult(record, False, problem)
        return VerifyResult(
            record,
            True,
            "only the encrypted file's SHA-256 was checked: this machine has no key to open it",
        )


def _check_owners(record: SnapshotRecord, folder: Path, database: Path) -> None:
    """A continuous base's page-owners file that is damaged or says other pages than its
    verified database is reported (point restores from it then take the whole check)."""
    from lifeboat.core.history.bases import BaseRef
    from lifeboat.core.history.owners_file import owners_match

    if owners_match(BaseRef(record.manifest, folder), database) is False:
        log.warning(
            "verify: the page owners file of %s is damaged or not its own: a restore of a "
            "point of its history runs SQLite's whole check",
            record.id,
        )


def _verdict(bad: list[VerifyResult]) -> str:
    damaged = sum(1 for r in bad if not r.missing and not r.base_only)
    missing = sum(1 for r in bad if r.missing and not r.base_only)
    base_failed = sum(1 for r in bad if r.base_only)
    parts = [f"{damaged} damaged snapshot(s)"] if damaged else []
    parts += [f"{missing} snapshot(s) with a missing file"] if missing else []
    parts += [f"{base_failed} snapshot(s) whose base failed"] if base_failed else []
    return ", ".join(parts)
