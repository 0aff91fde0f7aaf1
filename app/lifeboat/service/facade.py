"""The one façade the CLI, the daemon and the tray use. No Qt here.

Every operation a user can ask for is a method; long ones take a progress callback and a
cancel token and run as recorded jobs. Errors a user can act on are LifeboatErrors.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass, field, replace
from pathlib import Path

from lifeboat.core.catalog import RemoteCopy, SnapshotRecord
from lifeboat.core.catalog_records import AttentionItem
from lifeboat.core.config import Config, SourceConfig, source_name, validate_value
from lifeboat.core.encryption import stored_identities
from lifeboat.core.fsutil import FileLock
from lifeboat.core.leftovers import keep_damaged_manifest, sweep_folder, sweep_legacy_temp
from lifeboat.core.manifest import (
    DIFF_SUFFIX,
    MANIFEST_SUFFIX,
    Manifest,
    write_manifest,
)
from lifeboat.core.rederive import RECOVERABLE, CannotRederive, Recovery, rederive
from lifeboat.core.retention import KeepSpecError, parse_keep
from lifeboat.core.runs import job_alive, sweep_runs
from lifeboat.core.scan import FolderScan, scan_folder, scan_root
from lifeboat.core.secrets import KeyringLocked, SecretStore
from lifeboat.core.workspace import FOLDER_LOCK_NAME, Workspace
from lifeboat.foundation.errors import AlreadyRunning, ConfigError, LifeboatError
from lifeboat.foundation.events import EventSink, ignore_event
from lifeboat.foundation.progress import CancelToken, Progress, no_progress
from lifeboat.jobs.backup import BackupJob, rewrite_lost_manifests, tidy_folder
from lifeboat.jobs.base import JobOutcome, run_job
from lifeboat.jobs.prune import PruneJob, PrunePlan, delete_snapshot, plan_prune
from lifeboat.jobs.restore import RestoreJob, RestoreOutcome
from lifeboat.jobs.verify import VerifyJob, VerifyResult
from lifeboat.remote.scan import scan_remote
from lifeboat.service.checks import CheckMethods
from lifeboat.service.keys import KeyMethods
from lifeboat.service.remotes import RemoteMethods
from lifeboat.service.source_changes import check_database

log = logging.getLogger(__name__)


@dataclass
class RebuildReport:
    snapshots: int = 0
    folders: int = 0
    missing: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    #: snapshots whose manifest was re-derived from the artifact ("id: path")
    recovered: list[str] = field(default_factory=list)
    #: files kept but not usable as they are ("path: reason")
    attention: list[str] = field(default_factory=list)
    remote_snapshots: dict[str, int] = field(default_factory=dict)
    remote_incomplete: list[str] = field(default_factory=list)
    remote_mismatched: list[str] = field(default_factory=list)  # "KEY (why)": not counted
    remote_errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return dict(self.__dict__)


class Service(RemoteMethods, KeyMethods, CheckMethods):
    def __init__(
        self,
        workspace: Workspace | None = None,
        on_event: EventSink = ignore_event,
        secrets: SecretStore | None = None,
    ) -> None:
        self.workspace = workspace or Workspace()
        self.on_event = on_event
        self.secrets = secrets or SecretStore()

    # -- sources -------------------------------------------------------------------

    def sources(self) -> list[SourceConfig]:
        return list(self.workspace.config().sources.values())

    def source(self, name: str) -> SourceConfig:
        return self.workspace.config().source(name)

    def add_source(
        self,
        path: Path | str,
        *,
        name: str | None = None,
        dest: Path | str | None = None,
        schedule: str | None = None,
        keep: str | None = None,
        check: str | None = None,
        remote: str | None = None,
        remote_keep: str | None = None,
        encrypt_local: bool | None = None,
    ) -> SourceConfig:
        db_path = check_database(path)
        chosen = name if name is not None else default_source_name(db_path)
        values: dict[str, object] = {}
        try:
            source_name(chosen)
            for key, value in (
                ("schedule", schedule),
                ("keep", keep),
                ("check", check),
                ("remote", remote),
                ("remote_keep", remote_keep),
                ("encrypt_local", encrypt_local),
            ):
                if value is not None:
                    values[key] = validate_value("source", key, value)
            if dest is not None:
                values["dest"] = validate_value(
                    "source", "dest", str(Path(dest).expanduser().absolute())
                )
        except ValueError as exc:
            raise ConfigError(str(exc), "see `lifeboat source add --help`") from None
        with self.workspace.edit_config() as box:
            config = box[0]
            if chosen in config.sources:
                raise ConfigError(
                    f"a source named {chosen!r} already exists ({config.sources[chosen].path})",
                    "choose another name with --name",
                )
            if remote is not None:
                config.remote(remote)
            if encrypt_local and not config.general.recipients:
                raise ConfigError(
                    "there is no encryption key yet", "create one first: lifeboat key init"
                )
            for other in config.sources.values():
                if other.path == db_path:
                    raise ConfigError(
                        f"{db_path} is already backed up as source {other.name!r}",
                        "change that source instead",
                    )
            source = SourceConfig(name=chosen, path=db_path, **values)  # type: ignore[arg-type]
            self.workspace.source_folder(config, source)
            box[0] = config.with_source(source)
        log.info("added source %s (%s)", source.name, source.path)
        return source

    def remove_source(self, name: str, *, delete_snapshots: bool = False) -> list[str]:
        """Forget a source; its snapshots stay unless `delete_snapshots`."""
        deleted: list[str] = []
        with self.workspace.edit_config() as box:
            config = box[0]
            config.source(name)
            if delete_snapshots:
                for record in self.workspace.catalog.snapshots(name):
                    delete_snapshot(self.workspace, record)
                    deleted.append(record.id)
            box[0] = config.without_source(name)
        log.info("removed source %s (deleted %d snapshots)", name, len(deleted))
        return deleted

    # -- snapshots -----------------------------------------------------------------

    def update_source(self, name: str, **changes: object) -> SourceConfig:
        """Change a source's settings (schedule, keep, check, dest, prune)."""
        clean: dict[str, object] = {}
        try:
            for key, value in changes.items():
                if value is None:
                    continue
                if key == "dest":
                    value = str(Path(str(value)).expanduser().absolute())
                clean[key] = validate_value("source", key, value)
        except ValueError as exc:
            raise ConfigError(str(exc), "see `lifeboat source set --help`") from None
        with self.workspace.edit_config() as box:
            if clean.get("remote"):
                box[0].remote(str(clean["remote"]))
            if clean.get("encrypt_local") and not box[0].general.recipients:
                raise ConfigError(
                    "there is no encryption key yet", "create one first: lifeboat key init"
                )
            source = replace(box[0].source(name), **clean)  # type: ignore[arg-type]
            self.workspace.source_folder(box[0], source)
            box[0] = box[0].with_source(source)
        return source

    def backup(
        self,
        name: str,
        *,
        reason: str = "manual",
        protect: bool = False,
        trigger: str = "manual",
        full: bool = False,
        progress: Progress = no_progress,
        cancel: CancelToken | None = None,
    ) -> SnapshotRecord:
        """Take a snapshot now (then prune, unless the source opts out)."""
        outcome = self.run_backup(
            name,
            reason=reason,
            protect=protect,
            trigger=trigger,
            full=full,
            progress=progress,
            cancel=cancel,
        )
        assert outcome.snapshot_id is not None
        return self.workspace.catalog.snapshot(outcome.snapshot_id)

    def run_backup(
        self,
        name: str,
        *,
        reason: str = "manual",
        protect: bool = False,
        trigger: str = "manual",
        skip_if_covered: bool = False,
        full: bool = False,
        job_id: int | None = None,
        attempt: int = 1,
        progress: Progress = no_progress,
        cancel: CancelToken | None = None,
    ) -> JobOutcome:
        """The backup job as the scheduler runs it: may be skipped if the period is
        already covered; follow-up work (pruning) runs after a snapshot is taken."""
        job = BackupJob(
            self.workspace,
            name,
            reason=reason,
            protect=protect,
            skip_if_covered=skip_if_covered,
            full=full,
        )
        outcome = run_job(
            job,
            self.workspace.catalog,
            trigger=trigger,
            attempt=attempt,
            job_id=job_id,
            progress=progress,
            cancel=cancel,
            on_event=self.on_event,
        )
        if outcome.status == "ok" and self.workspace.config().source(name).prune:
            try:
                self.prune(name, trigger="after-backup")
            except LifeboatError as exc:
                log.warning("pruning %s after its backup failed: %s", name, exc.message)
        return outcome

    def restore(
        self,
        ref: str,
        *,
        to: Path | str | None = None,
        overwrite: bool = False,
        progress: Progress = no_progress,
        cancel: CancelToken | None = None,
    ) -> RestoreOutcome:
        """Restore a snapshot to `to`, or in place over its source (safety snapshot first)."""
        record = self.snapshot(ref)
        job = RestoreJob(
            self.workspace, record, to=Path(to) if to is not None else None, overwrite=overwrite
        )
        outcome = run_job(
            job, self.workspace.catalog, progress=progress, cancel=cancel, on_event=self.on_event
        )
        assert isinstance(outcome.result, RestoreOutcome)
        return outcome.result

    def restore_target(self, ref: str, to: Path | str | None = None) -> Path:
        """Where a restore would write (checks the request, touches nothing)."""
        job = RestoreJob(
            self.workspace, self.snapshot(ref), to=Path(to) if to else None, overwrite=True
        )
        job.prepare()
        assert job.target is not None
        return job.target

    def prune(self, source: str, *, dry_run: bool = False, trigger: str = "manual") -> PrunePlan:
        job = PruneJob(self.workspace, source, dry_run=dry_run)
        outcome = run_job(job, self.workspace.catalog, trigger=trigger, on_event=self.on_event)
        assert isinstance(outcome.result, PrunePlan)
        return outcome.result

    def retention_preview(self, source: str, keep: str) -> PrunePlan:
        """What a draft keep spec would keep and delete now (for the settings dialog)."""
        try:
            policy = parse_keep(keep)
        except KeepSpecError as exc:
            raise ConfigError(str(exc), "fix the keep spec") from None
        return plan_prune([r for r in self.snapshots(source) if r.local], source, policy)

    def set_protected(self, ref: str, protected: bool, reason: str | None = None) -> SnapshotRecord:
        """Pin (protect) or unpin a snapshot; the manifest on disk is updated first."""
        record = self.snapshot(ref)
        if record.manifest.kind == "raw" and not protected:
            raise LifeboatError(
                "raw safety copies stay protected", "delete it by hand if you are sure"
            )
        manifest = record.manifest.with_protection(protected, reason)
        write_manifest(record.folder, manifest, self.workspace.run)
        self.workspace.catalog.update_manifest(manifest)
        return self.snapshot(record.id)

    def snapshots(self, source: str | None = None) -> list[SnapshotRecord]:
        return self.workspace.catalog.snapshots(source)

    def snapshot(self, ref: str) -> SnapshotRecord:
        return self.workspace.catalog.snapshot(ref)

    def attention(self, source: str | None = None) -> list[AttentionItem]:
        """Files kept but not usable as they are (see core/scan.py), with the reason."""
        return self.workspace.catalog.attention(source)

    def verify(
        self,
        ref: str | None = None,
        *,
        source: str | None = None,
        check: str | None = None,
        progress: Progress = no_progress,
        cancel: CancelToken | None = None,
    ) -> list[VerifyResult]:
        records = [self.snapshot(ref)] if ref is not None else self.snapshots(source)
        if ref is not None:
            source = records[0].source
        job = VerifyJob(self.workspace, records, source=source, check=check)
        outcome = run_job(
            job, self.workspace.catalog, progress=progress, cancel=cancel, on_event=self.on_event
        )
        return list(outcome.result)  # type: ignore[call-overload]

    def rebuild_catalog(self, *, remotes: bool = True) -> RebuildReport:
        """Recreate the catalog's snapshot rows from the manifests on disk and, with
        `remotes`, on every configured remote (an unreachable remote keeps its rows).

        Nothing a scan finds is deleted: an artifact without a usable manifest gets its
        manifest re-derived where it can (core/rederive.py), else it is listed as needing
        attention; a manifest from a newer Lifeboat is kept untouched."""
        config = self.workspace.config()
        report = RebuildReport()
        before = self.workspace.catalog.snapshots()
        found: dict[str, tuple[Manifest, Path, str]] = {}
        scans = []
        for root in self.workspace.snapshot_roots(config):
            for scan in scan_root(root):
                for stem in sweep_folder(
                    scan.folder, self.workspace.paths.run_dir
                ).finished_deletions:
                    log.info("finished deleting snapshot %s (interrupted before)", stem)
                for snap_id in rewrite_lost_manifests(self.workspace, scan_folder(scan.folder)):
                    report.recovered.append(f"{snap_id}: manifest written back from the catalog")
                scans.append(scan_folder(scan.folder))
        for scan in scans:
            report.folders += 1
            for manifest, status in scan.found:
                found.setdefault(manifest.id, (manifest, scan.folder, status))
        for scan in scans:
            items = self._recover(scan, found, config, report)
            self.workspace.catalog.set_attention(scan.folder, items)
            report.attention += [f"{i.path}: {i.reason}" for i in items]
            for manifest, status in scan.found:
                if status != "ok":
                    report.missing.append(manifest.id)
        copies = self._scan_remotes(config, remotes, before, found, report)
        self.workspace.catalog.replace_snapshots(found.values())
        for name, pairs in copies.items():
            self.workspace.catalog.replace_remote_copies(name, pairs)
        report.snapshots = len(found)
        return report

    def _recover(
        self,
        scan: FolderScan,
        found: dict[str, tuple[Manifest, Path, str]],
        config: Config,
        report: RebuildReport,
    ) -> list[AttentionItem]:
        """Re-derive the manifests of the folder's orphaned artifacts and of those whose
        manifest is unreadable (fulls first: a differential needs its base); return what
        still needs attention."""
        identities, key_problem = self._identities()
        recovery = Recovery(
            self.workspace.run,
            self.workspace.scratch(config),
            identities,
            list(config.general.recipients),
            {mid: (folder, m) for mid, (m, folder, st) in found.items() if st == "ok"},
            source_path=str(config.sources[scan.folder.name].path)
            if scan.folder.name in config.sources
            else "",
            key_problem=key_problem,
        )
        damaged = {p.name.removesuffix(MANIFEST_SUFFIX): p for p, _ in scan.unreadable}
        candidates = [p for p in scan.orphans if p.name.endswith(RECOVERABLE)]
        for stem in damaged:
            candidates += [
                scan.folder / (stem + suffix)
                for suffix in RECOVERABLE
                if (scan.folder / (stem + suffix)).is_file()
            ]
        recovered: set[str] = set()
        unrecoverable: dict[Path, str] = {}
        for path in sorted(candidates, key=lambda p: DIFF_SUFFIX in p.name):
            manifest_path = damaged.get(_stem(path))
            try:
                if manifest_path is not None:
                    keep_damaged_manifest(manifest_path, self.workspace.run)
                manifest = rederive(path, recovery)
            except CannotRederive as exc:
                unrecoverable[path] = f"Not recoverable here: {exc}"
                continue
            recovered.add(_stem(path))
            status = "ok" if manifest.check_result == "ok" else "corrupt"
            found[manifest.id] = (manifest, scan.folder, status)
            recovery.known[manifest.id] = (scan.folder, manifest)
            report.recovered.append(f"{manifest.id}: {path}")
            log.info("recovered the manifest of snapshot %s from %s", manifest.id, path)
        # By stem: a damaged manifest's item is its own file, not the artifact's.
        why_not = {_stem(path): why for path, why in unrecoverable.items()}
        return [
            replace(item, reason=f"{item.reason}. {why_not[_stem(item.path)]}")
            if _stem(item.path) in why_not
            else item
            for item in scan_folder(scan.folder).attention()
            if _stem(item.path) not in recovered
        ]

    def _identities(self) -> tuple[list[str], str]:
        """This machine's age identities, and why they could not be read ("" if they
        were): a locked keyring is not "no key", and the user is told which it is."""
        try:
            return stored_identities(self.secrets), ""
        except KeyringLocked as exc:
            return [], f"{exc.message}; unlock it and rebuild again"
        except LifeboatError as exc:
            return [], f"{exc.message}; make the keyring usable and rebuild again"

    def _scan_remotes(
        self,
        config: Config,
        remotes: bool,
        before: list[SnapshotRecord],
        found: dict[str, tuple[Manifest, Path, str]],
        report: RebuildReport,
    ) -> dict[str, list[tuple[str, RemoteCopy]]]:
        copies: dict[str, list[tuple[str, RemoteCopy]]] = {}
        for remote in config.remotes.values():
            try:
                if not remotes:
                    raise LifeboatError("not scanned")
                remote_scan = scan_remote(remote, self.secrets)
            except LifeboatError as exc:
                if remotes:
                    report.remote_errors.append(f"{remote.name}: {exc.message}")
                for record in before:  # keep what we knew of it
                    if record.copy_on(remote.name) is not None:
                        found.setdefault(record.id, (record.manifest, record.folder, "remote"))
                continue
            copies[remote.name] = []
            for manifest, copy in remote_scan.found:
                src = config.sources.get(manifest.source)
                folder = (
                    self.workspace.snapshot_folder(config, src)
                    if src is not None
                    else self.workspace.snapshot_root(config) / manifest.source
                )
                found.setdefault(manifest.id, (manifest, folder, "remote"))
                copies[remote.name].append((manifest.id, copy))
            report.remote_snapshots[remote.name] = len(remote_scan.found)
            report.unreadable += remote_scan.unreadable
            report.remote_incomplete += remote_scan.incomplete
            report.remote_mismatched += remote_scan.mismatched
        return copies

    # -- housekeeping ----------------------------------------------------------------

    def sweep(self) -> None:
        """Remove what ended runs left (their scratch folders, with anything decrypted or
        decompressed in them, and their work files wherever they noted them) and record
        their unfinished jobs as interrupted. Cheap; done at the start of every command
        and of the tray. Best effort: a full disk or a bad config never stops a command
        here (the command itself says what is wrong)."""
        paths = self.workspace.paths
        try:
            config = self.workspace.config()
            roots = [config.general.temp_dir or paths.temp_dir]
            for path in sweep_runs(paths.run_dir, roots) + sweep_legacy_temp(
                roots[0], self.workspace.catalog
            ):
                log.info("removed what an interrupted run left: %s", path)
            self.mark_interrupted_jobs()
        except (LifeboatError, OSError, sqlite3.Error) as exc:
            log.warning(
                "could not tidy up after interrupted runs: %s", getattr(exc, "message", exc)
            )

    def mark_interrupted_jobs(self) -> list[int]:
        """Jobs recorded as queued or running whose process has ended: interrupted."""
        catalog = self.workspace.catalog
        run_dir = self.workspace.paths.run_dir
        ended = [
            job.id for job in catalog.unfinished_jobs() if not job_alive(run_dir, job.run, job.pid)
        ]
        catalog.mark_interrupted(ended)
        return ended

    def tidy_sources(self) -> None:
        """For every source: finish interrupted deletions, remove ended runs' work files
        in its folder, and record what needs attention (the scheduler does this when it
        starts; a backup does it for its own source)."""
        config = self.workspace.config()
        for src in config.sources.values():
            folder = self.workspace.snapshot_folder(config, src)
            if not folder.is_dir():
                continue
            try:
                tidy_folder(self.workspace, folder, src.name)
            except (LifeboatError, OSError) as exc:
                log.warning("could not tidy %s: %s", folder, getattr(exc, "message", exc))

    # -- for the tray --

    def delete_snapshot(self, ref: str) -> SnapshotRecord:
        """Delete one snapshot by hand (the tray's History); unpin protected ones first."""
        record = self.snapshot(ref)
        if record.manifest.protected:
            raise LifeboatError(
                f"snapshot {record.id} is protected ({record.manifest.reason})",
                "unpin it first if you really want to delete it",
            )
        lock = FileLock(record.folder / FOLDER_LOCK_NAME)
        if not lock.try_acquire():
            raise AlreadyRunning(
                f"a backup of {record.source} is running",
                "delete the snapshot when it has finished",
            )
        try:
            delete_snapshot(self.workspace, record)
        finally:
            lock.release()
        log.info("deleted snapshot %s of %s by hand", record.id, record.source)
        return record


def default_source_name(path: Path) -> str:
    """A source name from a database file name: 'My Notes.db' -> 'My-Notes'."""
    stem = path.name
    for suffix in (".sqlite3", ".sqlite", ".db3", ".db"):
        if stem.lower().endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
            break
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_")[:64] or "db"
    if not name[0].isalnum():
        name = "db" + name
    return name


def _stem(artifact: Path) -> str:
    """The snapshot stem of an artifact's file name."""
    return artifact.name.split(".", 1)[0]
