"""RestoreJob: put a snapshot back, in place (after a safety snapshot) or to a new file."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.config_model import SourceConfig
from lifeboat.core.encryption import stored_identities
from lifeboat.core.fsutil import hold_lock
from lifeboat.core.live_pass import PassShare
from lifeboat.core.manifest import Manifest, write_manifest
from lifeboat.core.rawcopy import restore_raw_copy, save_raw_copy
from lifeboat.core.restore import (
    RestoreResult,
    check_new_file_target,
    new_file_mode,
    write_new_file,
)
from lifeboat.core.results import PointChoice, RestoreOutcome
from lifeboat.core.snapshot import Unchanged
from lifeboat.core.snapshot_request import SafetyOptions
from lifeboat.core.workspace import FOLDER_LOCK_NAME, Workspace
from lifeboat.core.written_so_far import WrittenSoFar
from lifeboat.foundation.errors import LifeboatError, SourceError
from lifeboat.foundation.progress import CancelToken, Progress
from lifeboat.foundation.states import JobKind
from lifeboat.jobs.backup import check_source_path, snapshot_source
from lifeboat.jobs.base import JobOutcome
from lifeboat.jobs.last_backup import intact_here, newest_intact
from lifeboat.jobs.prune import delete_snapshot
from lifeboat.jobs.restore_extract import SnapshotExtraction
from lifeboat.jobs.restore_in_place import write_in_place
from lifeboat.jobs.restore_point import Chains, rebuild_checked
from lifeboat.jobs.unrecorded import record_unrecorded
from lifeboat.remote.fetch import snapshot_files

log = logging.getLogger(__name__)


class RestoreJob:
    kind = JobKind.RESTORE

    def __init__(
        self,
        workspace: Workspace,
        record: SnapshotRecord,
        *,
        to: Path | None = None,
        overwrite: bool = False,
        point: tuple[PointChoice, Chains] | None = None,
    ) -> None:
        """`record` is the snapshot to restore; with `point`, the base of the chain whose
        point (and the chains it was chosen from) is restored instead."""
        self.workspace = workspace
        self.point = point
        self.record = record
        self.source = record.source
        self.to = to
        self.overwrite = overwrite
        self.target: Path | None = None
        self._src: SourceConfig | None = None
        self._proofs: dict[str, tuple[SnapshotRecord | None, bool, bool]] = {}  # +proven
        # SHA-256 of the artifacts proven intact in this job: the newest snapshot is
        # often also the base the safety copy is taken on, hashed once
        self._hashed: dict[Path, str] = {}

    @property
    def in_place(self) -> bool:
        return self.to is None

    def prepare(self) -> None:
        config = self.workspace.config()
        manifest = self.record.manifest
        if self.to is not None:
            self.target = check_new_file_target(self.to, self.overwrite)
            return
        src = config.sources.get(manifest.source)
        if src is None:
            raise LifeboatError(
                f"snapshot {manifest.id} belongs to source {manifest.source!r}, which is no "
                "longer configured",
                "restore it to a new file with --to PATH",
            )
        if manifest.kind == "raw":
            raise LifeboatError(
                f"snapshot {manifest.id} is a raw safety copy of a damaged database",
                "restore it to a new file with --to PATH",
            )
        check_source_path(src)
        self._src = src
        self.target = src.path

    def run(self, progress: Progress, cancel: CancelToken) -> JobOutcome[RestoreOutcome]:
        assert self.target is not None, "prepare() first"
        record, manifest = self.record, self.record.manifest
        config = self.workspace.config()
        src = config.sources.get(manifest.source)
        check = src.check if src is not None else "quick"
        started = time.monotonic()
        safety_id: str | None = None
        if manifest.kind == "raw":
            # A sealed copy opens with the keyring's identities.
            identities = (
                stored_identities(self.workspace.secrets) if manifest.local_encryption else []
            )
            restore_raw_copy(record.folder, manifest, self.target, self.workspace.run, identities)
            result = RestoreResult(self.target, "raw-copy", 0.0)
        elif self.point is not None:
            point, chains = self.point

            def rebuild(dest: Path) -> None:
                # In place, the new file is read back at once: only --to keeps it.
                kept = not self.in_place
                args = (self.workspace, point, chains, dest)
                rebuild_checked(*args, check=check, progress=progress, cancel=cancel, kept=kept)

            result, safety_id = self._publish(rebuild, progress, cancel)
        else:
            result, safety_id = self._restore_snapshot(check, progress, cancel)
        log.info("restored %s to %s (%s)", self._what(), result.target, result.method)
        outcome = RestoreOutcome(
            manifest.id,
            result.target,
            result.method,
            time.monotonic() - started,
            safety_id,
            self.point[0] if self.point is not None else None,
        )
        return JobOutcome(snapshot_id=manifest.id, result=outcome, detail=outcome.to_json())

    def _restore_snapshot(
        self, check: str, progress: Progress, cancel: CancelToken
    ) -> tuple[RestoreResult, str | None]:
        """The snapshot itself restored (fetched first if it is on a remote only)."""
        with snapshot_files(self.workspace, self.record, progress, cancel) as files:
            extraction = SnapshotExtraction(files, check, self.in_place, progress, cancel)
            manifest = self.record.manifest
            local = files.folder == self.record.folder and not manifest.local_encryption
            if self.in_place and local:
                # The extraction proves these very bytes (the artifact's SHA-256), and the
                # safety snapshot is kept only once it did (jobs/restore_in_place.py):
                # its base, often this snapshot, is not hashed a second time meanwhile
                self._hashed.setdefault(self.record.path, manifest.sha256)
            return self._publish(
                extraction.extract, progress, cancel, extraction.check_owed, extraction.written
            )

    def _what(self) -> str:
        if self.point is None:
            return f"snapshot {self.record.id}"
        point = self.point[0]
        return f"{point.source} at commit {point.commit_seq} ({point.commit_time.isoformat()})"

    def _publish(
        self,
        produce: Callable[[Path], None],
        progress: Progress,
        cancel: CancelToken,
        check_in_place: Callable[[Path], None] | None = None,
        written: WrittenSoFar | None = None,
    ) -> tuple[RestoreResult, str | None]:
        """The database `produce` writes and checks, published: as a new file at --to, or
        in place (with a safety snapshot). `check_in_place`: in place, `produce` leaves
        the check to it, run while the copy is written into the target; `written`: how
        far `produce` has written its file."""
        assert self.target is not None
        if self.in_place:
            assert self._src is not None
            return self._in_place(self._src, produce, progress, cancel, check_in_place, written)
        result = write_new_file(
            self.target,
            produce,
            mode=new_file_mode(self.record.manifest),
            overwrite=self.overwrite,
            run=self.workspace.run,
            cancel=cancel,
        )
        return result, None

    def _in_place(
        self,
        src: SourceConfig,
        produce: Callable[[Path], None],
        progress: Progress,
        cancel: CancelToken,
        check: Callable[[Path], None] | None,
        written: WrittenSoFar | None,
    ) -> tuple[RestoreResult, str | None]:
        """Write the restored database into the target while it is extracted and the
        safety snapshot is taken (jobs/restore_in_place.py); `written` says how far
        `produce` got (None: only once it is done)."""
        config = self.workspace.config()
        folder = self.workspace.source_folder(config, src)
        verified = self.workspace.run.work_path(self.workspace.scratch(config), "verified")
        with hold_lock(
            folder / FOLDER_LOCK_NAME,
            f"a backup of {src.name} is running",
            "wait for it to finish, then restore",
        ):
            record_unrecorded(self.workspace, folder)  # the safety copy may reuse one
            try:
                return write_in_place(
                    self,
                    src,
                    folder,
                    verified,
                    produce,
                    check,
                    written or WrittenSoFar(0),
                    progress,
                    cancel,
                )
            finally:
                with contextlib.suppress(OSError):
                    verified.unlink()

    def take_safety_copy(
        self,
        progress: Progress,
        cancel: CancelToken,
        copy: Path | None = None,
        *,
        writes_held: bool = False,
        share: PassShare | None = None,
    ) -> SafetyCopy | None:
        """The protected snapshot of the source as it is now, exactly as an in-place
        restore takes it (prepare() first; hold the folder's lock): a row merge takes it
        before it changes anything. `copy`: a private copy of the source's database to
        take it from instead (the merge's own, made while it holds the write lock).
        `writes_held`: the caller holds the database's write lock meanwhile
        (SnapshotRequest.writes_held); `share`: SnapshotRequest.share."""
        assert self._src is not None, "prepare() an in-place restore first"
        folder = self.workspace.source_folder(self.workspace.config(), self._src)
        src = self._src if copy is None else replace(self._src, path=copy)
        return self._safety_copy(src, folder, progress, cancel, writes_held, share)

    def _discard(self, taking: Future[SafetyCopy | None]) -> None:
        """The restore will not happen: drop the safety snapshot taken for it (never one
        that was there before and only reused)."""
        try:
            safety = taking.result()
        except Exception:  # it failed, nothing kept: the restore's own error is the one said
            return
        if safety is not None and safety.taken:
            delete_snapshot(self.workspace, self.workspace.catalog.snapshot(safety.id))

    def _safety_copy(
        self,
        src: SourceConfig,
        folder: Path,
        progress: Progress,
        cancel: CancelToken,
        writes_held: bool = False,
        share: PassShare | None = None,
    ) -> SafetyCopy | None:
        """A protected snapshot of what is there now, or a raw copy if SQLite can't read
        it. If the newest snapshot already holds exactly this content (a restore
        interrupted after its safety snapshot, retried), that one is kept protected and
        used: retries never pile up identical safety snapshots."""
        assert self.target is not None
        if not os.path.lexists(self.target):
            return None
        proof = self._proofs.pop(src.name, None)  # made before a lock by prove_bases
        newest, full, proven = proof if proof is not None else (*self._prove(src.name), True)
        try:
            manifest = snapshot_source(
                self.workspace,
                src,
                folder,
                reason="pre-restore",
                protect=True,
                progress=progress,
                cancel=cancel,
                full=full,
                unchanged_since=newest.manifest if newest else None,
                # proven by its page hashes, read straight from a WAL file
                # (docs/SAFETY.md, "The safety snapshot")
                safety=SafetyOptions(writes_held, share),
            )
        except Unchanged as same:
            return self._reuse_unchanged(same.manifest, folder, protect=proven)
        except SourceError as exc:
            log.warning(
                "current %s is not readable (%s); keeping a raw copy", self.target, exc.message
            )
            manifest = self._raw_safety_copy(src, folder)
        return SafetyCopy(manifest.id, taken=True)

    def prove_bases(self) -> None:
        """Prove now what the next safety snapshot stands on (the newest snapshot's and
        the base's bytes), so that taking it later, while the caller holds the
        database's write lock, costs the copy only. Hold the folder's lock until then:
        nothing else changes those snapshots."""
        assert self._src is not None, "prepare() an in-place restore first"
        self._proofs[self._src.name] = (*self._prove(self._src.name), True)

    def assume_bases_intact(self) -> tuple[str | None, bool]:
        """Let the next safety copy stand on what prove_bases finds when the bytes it
        proves are intact, so that it starts at once (a row merge proves them beside
        it): the caller compares proven_bases() with the answer before relying on the
        copy, and drops and takes it again when they differ. (newest id, whole)."""
        assert self._src is not None, "prepare() an in-place restore first"
        records = self.workspace.catalog.snapshots(self._src.name)
        newest = next(
            (r for r in records if r.status == "ok" and r.local and r.manifest.kind != "raw"),
            None,
        )
        whole = not any(r.manifest.kind == "full" for r in records)
        self._proofs[self._src.name] = (newest, whole, False)
        return (newest.id if newest else None, whole)

    def keep_as_safety(self, safety: SafetyCopy | None) -> None:
        """A safety copy on assumed bases, now proven: a snapshot it reused is protected now."""
        if safety is not None and not safety.taken and self._src is not None:
            folder = self.workspace.source_folder(self.workspace.config(), self._src)
            self._reuse_unchanged(self.workspace.catalog.snapshot(safety.id).manifest, folder)

    def proven_bases(self) -> tuple[str | None, bool]:
        """What prove_bases finds now, as assume_bases_intact gives it (not kept)."""
        assert self._src is not None, "prepare() an in-place restore first"
        newest, whole = self._prove(self._src.name)
        return (newest.id if newest else None, whole)

    def _prove(self, source: str) -> tuple[SnapshotRecord | None, bool]:
        """The newest snapshot if proven intact, and whether the safety copy must be a
        whole new snapshot (no full base, or one whose bytes are not as taken)."""
        newest = self._proven_newest(source)
        # A differential is only as good as its base: the safety copy is one only on a
        # base whose bytes were just proven intact, else a whole new snapshot.
        base = next(
            (r for r in self.workspace.catalog.snapshots(source) if r.manifest.kind == "full"),
            None,
        )
        if base is None:
            return newest, True
        # The newest snapshot's proof covers its base: the same bytes are not hashed twice.
        covered = newest is not None and base.id in (newest.id, newest.manifest.base)
        return newest, not (covered or self._still_restorable(base))

    def _proven_newest(self, source: str) -> SnapshotRecord | None:
        """The newest good snapshot here, if its bytes are proven still as taken (never
        let an unproven snapshot stand in for the safety copy)."""
        return newest_intact(self.workspace, source, self._hashed)

    def _reuse_unchanged(self, kept: Manifest, folder: Path, protect: bool = True) -> SafetyCopy:
        """Snapshot `kept` holds what is there now: the safety copy (protected once proven)."""
        if protect and not kept.protected:
            kept = kept.with_protection(True, "pre-restore")
            write_manifest(folder, kept, self.workspace.run)
            self.workspace.catalog.update_manifest(kept)
        log.info("%s is unchanged since snapshot %s: it is the safety copy", self.target, kept.id)
        return SafetyCopy(kept.id, taken=False)

    def _raw_safety_copy(self, src: SourceConfig, folder: Path) -> Manifest:
        """A raw copy of the target SQLite cannot read, recorded in the catalog."""
        assert self.target is not None
        # A source kept encrypted here gets its raw copy sealed too (never plaintext
        # beside its snapshots).
        recipients = list(self.workspace.config().general.recipients)
        if src.encrypt_local and not recipients:
            raise LifeboatError(
                f"source {src.name} keeps its snapshots encrypted, but there is no "
                "encryption key for the raw copy of its current file",
                "create one: lifeboat key init",
            ) from None
        manifest = save_raw_copy(
            self.target,
            folder,
            src.name,
            "pre-restore",
            self.workspace.run,
            recipients if src.encrypt_local else (),
            busy_timeout=self.workspace.config().general.busy_timeout,
        )
        self.workspace.catalog.add_snapshot(manifest, folder)
        return manifest

    def _still_restorable(self, record: SnapshotRecord) -> bool:
        """Whether the snapshot (and a differential's base) is here with exactly the
        bytes it had when it was taken and checked."""
        return intact_here(self.workspace, record, self._hashed)


@dataclass(frozen=True)
class SafetyCopy:
    """The snapshot that keeps what an in-place restore replaces."""

    id: str
    taken: bool  # False: an existing snapshot that already held it was reused
