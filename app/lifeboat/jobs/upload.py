"""UploadJob: copy a source's snapshots to its remote, oldest first, then apply the
remote's retention. A copy is recorded only once the server is proven to hold exactly
the bytes sent; multipart uploads that an ended run left open are aborted first, and
copies recorded without proof are proven (or found not to match, and sent again where
the snapshot is here) before anything is planned."""

from __future__ import annotations

import logging
from dataclasses import replace

from lifeboat.core.catalog_records import RemoteCopy, SnapshotRecord
from lifeboat.core.config_model import RemoteConfig, SourceConfig
from lifeboat.core.manifest import utc_now
from lifeboat.core.results import UploadResult
from lifeboat.core.stores import RemoteStore
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import LifeboatError, OperationFailed
from lifeboat.foundation.progress import CancelToken, Progress
from lifeboat.foundation.states import JobKind
from lifeboat.foundation.units import format_bytes
from lifeboat.jobs.base import JobOutcome
from lifeboat.remote.fetch import artifact_folder
from lifeboat.remote.history_plans import live_chain_bases
from lifeboat.remote.open_uploads import CatalogLedger, abort_ended_uploads, ended_open_uploads
from lifeboat.remote.plans import delete_remote_copy, plan_remote_prune, plan_uploads
from lifeboat.remote.proof import Proof, prove_copy, to_prove
from lifeboat.remote.upload import upload_snapshot

log = logging.getLogger(__name__)


class UploadJob:
    kind = JobKind.UPLOAD

    def __init__(self, workspace: Workspace, source: str, *, reencrypt: bool = False) -> None:
        self.workspace = workspace
        self.source = source
        self.reencrypt = reencrypt
        self._src: SourceConfig | None = None
        self._remote: RemoteConfig | None = None

    def prepare(self) -> None:
        config = self.workspace.config()
        src = config.source(self.source)
        if src.remote is None:
            raise LifeboatError(
                f"source {src.name} has no remote",
                f"give it one: lifeboat source set {src.name} --remote NAME",
            )
        self._src, self._remote = src, config.remote(src.remote)

    def run(self, progress: Progress, cancel: CancelToken) -> JobOutcome[UploadResult]:
        assert self._src is not None and self._remote is not None, "prepare() first"
        src, remote = self._src, self._remote
        catalog = self.workspace.catalog
        unproven = to_prove(catalog.snapshots(src.name), remote.name)
        pending = self._pending()
        left_open = ended_open_uploads(self.workspace, remote.name)
        result = UploadResult([], [], 0)
        aborted: list[str] = []
        proofs: list[Proof] = []
        if pending or left_open or unproven or self._has_copies(remote.name):
            store = self.workspace.stores.open(remote)
            try:
                if left_open:
                    aborted = abort_ended_uploads(self.workspace, remote, store)
                if unproven:
                    proofs = self._prove(store, remote, unproven, progress, cancel)
                result = self._send(store, progress, cancel)
                result.deleted.extend(self._prune_remote(store, cancel))
            finally:
                store.close()  # a boto3 client costs ~40 MB: keep it only for the job
        self._report_unreplaced(remote, proofs)
        return JobOutcome(
            result=result,
            detail={
                "remote": remote.name,
                "uploaded": result.uploaded,
                "deleted": result.deleted,
                "bytes": result.bytes,
                "aborted_uploads": aborted,
                "proven": [p.record.id for p in proofs if p.failed is None],
                "not_matching": [p.record.id for p in proofs if p.failed is not None],
            },
        )

    def _pending(self) -> list[SnapshotRecord]:
        """The snapshots the remote should have and does not (as proven), oldest first."""
        assert self._src is not None and self._remote is not None
        records = self.workspace.catalog.snapshots(self._src.name)
        return plan_uploads(records, self._remote.name, self._src.remote_policy, utc_now())

    def _send(self, store: RemoteStore, progress: Progress, cancel: CancelToken) -> UploadResult:
        """Upload what the plan says is missing (planned after the proofs), oldest first."""
        assert self._src is not None and self._remote is not None
        src, remote = self._src, self._remote
        catalog = self.workspace.catalog
        recipients = self.workspace.config().general.recipients
        ledger = CatalogLedger(catalog, remote.name)
        pending = self._pending()
        uploaded: list[str] = []
        sent = 0
        for record in pending:
            cancel.check()
            copy = upload_snapshot(
                store, remote, record, progress, cancel, recipients=recipients, ledger=ledger
            )
            catalog.add_remote_copy(record.id, copy)
            uploaded.append(record.id)
            sent += copy.size
            log.info(
                "uploaded snapshot %s of %s to %s (%s)",
                record.id,
                src.name,
                remote.name,
                format_bytes(copy.size),
            )
        if self.reencrypt:
            uploaded += self._reencrypt(store, remote, recipients, progress, cancel, ledger)
        return UploadResult(uploaded, [], sent)

    def _prune_remote(self, store: RemoteStore, cancel: CancelToken) -> list[str]:
        """Apply the remote's retention; the ids of the copies deleted."""
        assert self._src is not None and self._remote is not None
        src, remote = self._src, self._remote
        records = self.workspace.catalog.snapshots(src.name)
        live = live_chain_bases(
            records, self.workspace.catalog.segment_copies(src.name, remote.name)
        )
        deleted: list[str] = []
        for decision in plan_remote_prune(records, remote.name, src.remote_policy, utc_now()):
            if decision.keep:
                continue
            cancel.check()
            record = next(r for r in records if r.id == decision.snapshot.id)
            if record.id in live:
                log.info(
                    "kept snapshot %s of %s on %s: the continuous history there starts from it",
                    record.id,
                    src.name,
                    remote.name,
                )
                continue
            delete_remote_copy(store, self.workspace, record, remote.name)
            deleted.append(record.id)
            log.info(
                "pruned snapshot %s of %s from %s: %s",
                record.id,
                src.name,
                remote.name,
                decision.reason,
            )
        return deleted

    def _prove(
        self,
        store: RemoteStore,
        remote: RemoteConfig,
        unproven: list[tuple[SnapshotRecord, RemoteCopy]],
        progress: Progress,
        cancel: CancelToken,
    ) -> list[Proof]:
        """Prove the copies recorded without proof (see remote/proof.py): each becomes
        proven, or is recorded as not matching its manifest (kept on the remote, never
        deleted for it; a local snapshot is then sent again by the plan)."""
        catalog = self.workspace.catalog
        log.info(
            "proving %d old copies of %s on %s by reading them back (at most %s; "
            "fewer where the ETag a proven upload recorded still holds)",
            len(unproven),
            self.source,
            remote.name,
            format_bytes(sum(copy.size for _, copy in unproven)),
        )
        proofs = []
        for record, copy in unproven:
            cancel.check()
            proof = prove_copy(store, record, copy, progress, cancel)
            catalog.set_copy_proof(record.id, copy, proof.failed)
            proofs.append(proof)
            if proof.failed is None:
                log.info(
                    "proved the copy of snapshot %s on %s (%s)",
                    record.id,
                    remote.name,
                    "by its ETag"
                    if proof.how == "etag"
                    else f"read back {format_bytes(proof.read)}",
                )
            else:
                log.warning(
                    "the copy of snapshot %s on %s (%s) does not match its manifest: %s; "
                    "it is not counted, and kept on the remote",
                    record.id,
                    remote.name,
                    copy.key,
                    proof.failed,
                )
        read = sum(p.read for p in proofs)
        log.info(
            "proving old copies on %s: %d proven, %d not matching, %s read back",
            remote.name,
            sum(1 for p in proofs if p.failed is None),
            sum(1 for p in proofs if p.failed is not None),
            format_bytes(read),
        )
        return proofs

    def _report_unreplaced(self, remote: RemoteConfig, proofs: list[Proof]) -> None:
        """A copy found not to match its manifest and not replaced by a proven upload
        (the snapshot is not here to send again, or the remote's retention does not keep
        it) is a problem the user must hear of: the job fails with it."""
        failed = [p for p in proofs if p.failed is not None]
        if not failed:
            return
        now = {r.id: r for r in self.workspace.catalog.snapshots(self.source)}
        left = [
            p
            for p in failed
            if p.record.id not in now or now[p.record.id].proven_copy_on(remote.name) is None
        ]
        for p in failed:
            if p not in left:
                log.info(
                    "snapshot %s was uploaded again to %s: its old copy did not match",
                    p.record.id,
                    remote.name,
                )
        if not left:
            return
        what = "; ".join(f"snapshot {p.record.id} ({p.copy.key}): {p.failed}" for p in left)
        one = len(left) == 1
        raise OperationFailed(
            f"{len(left)} {'copy' if one else 'copies'} on remote {remote.name} "
            f"{'does' if one else 'do'} not match {'its' if one else 'their'} manifest and "
            f"{'is' if one else 'are'} not counted: {what}",
            f"nothing was deleted: {'it is' if one else 'they are'} kept on the remote for "
            "you to look at; `lifeboat catalog rebuild` checks again",
        )

    def _reencrypt(
        self,
        store: RemoteStore,
        remote: RemoteConfig,
        recipients: list[str],
        progress: Progress,
        cancel: CancelToken,
        ledger: CatalogLedger,
    ) -> list[str]:
        """Replace the remote's plaintext copies by encrypted ones: upload and confirm the
        encrypted copy first, only then delete the plaintext object."""
        if not remote.encrypt:
            raise LifeboatError(
                f"remote {remote.name} does not encrypt",
                f"switch it on first: lifeboat remote set {remote.name} --encrypt",
            )
        done = []
        for record in self.workspace.catalog.snapshots(self.source):
            old = record.copy_on(remote.name)
            if old is None or old.encrypted:
                continue
            cancel.check()
            if record.manifest.local_encryption and record.path.is_file():
                # Kept encrypted here: the sealed file replaces the plaintext copy.
                new = upload_snapshot(store, remote, record, progress, cancel, ledger=ledger)
            else:
                with artifact_folder(self.workspace, record, progress, cancel) as folder:
                    local = replace(record, folder=folder)
                    new = upload_snapshot(
                        store, remote, local, progress, cancel, recipients=recipients, ledger=ledger
                    )
            store.delete(old.key)
            self.workspace.catalog.add_remote_copy(record.id, new)
            done.append(record.id)
            log.info("re-encrypted snapshot %s of %s on %s", record.id, self.source, remote.name)
        return done

    def _has_copies(self, remote: str) -> bool:
        return any(r.copy_on(remote) for r in self.workspace.catalog.snapshots(self.source))
