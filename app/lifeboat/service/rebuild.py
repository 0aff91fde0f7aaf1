"""`catalog rebuild`: the catalog recreated from the files, which are the truth.

Each snapshot folder is rebuilt while holding its lock (the one backups, prunes and
restores hold), so a backup that finishes or a prune that deletes meanwhile is never
undone: that folder's rows are written before the lock is let go, and only that
folder's rows are touched. A folder whose lock stays taken is left as it was and
reported. Nothing a scan finds is deleted: an artifact without a usable manifest gets
its manifest written back from the catalog or re-derived from the file (core/rederive),
else it is listed as needing attention; a newer Lifeboat's manifest is kept untouched.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from lifeboat.core.catalog_records import AttentionItem, RemoteCopy
from lifeboat.core.config_model import Config, RemoteConfig
from lifeboat.core.encryption import stored_identities
from lifeboat.core.fsutil import FileLock
from lifeboat.core.leftovers import keep_damaged_manifest, sweep_folder
from lifeboat.core.manifest import DIFF_SUFFIX, MANIFEST_SUFFIX, Manifest
from lifeboat.core.rederive import RECOVERABLE, CannotRederive, Recovery, rederive
from lifeboat.core.scan import FolderScan, scan_folder, source_folders
from lifeboat.core.secrets import SecretStore
from lifeboat.core.workspace import FOLDER_LOCK_NAME, FOLDER_LOCK_PATIENCE, Workspace
from lifeboat.foundation.errors import LifeboatError
from lifeboat.foundation.progress import Progress, no_progress
from lifeboat.jobs.unrecorded import rewrite_lost_manifests
from lifeboat.remote.history_scan import scan_history
from lifeboat.remote.scan import scan_remote

# Imported here for the type checker only; at run time inside the functions that use
# them: they load heavy libraries (zstandard, apsw, APScheduler, numpy) or the jobs,
# which commands such as `lifeboat status` must not pay for at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    from lifeboat.core.results import RebuildReport


log = logging.getLogger(__name__)


#: The progress phases of a rebuild: (phase, done, total) counts folders, then remotes.
FOLDERS_PHASE, REMOTES_PHASE = "rebuild-folders", "rebuild-remotes"


def rebuild_catalog(
    workspace: Workspace,
    secrets: SecretStore,
    *,
    remotes: bool = True,
    progress: Progress = no_progress,
) -> RebuildReport:
    """`progress` hears each snapshot folder, then each remote, as it is started."""
    from lifeboat.core.results import RebuildReport

    config = workspace.config()
    report = RebuildReport()
    before = workspace.catalog.local_folders()
    scanned: set[Path] = set()
    for root in workspace.snapshot_roots(config):
        folders = source_folders(root)  # each is scanned under its lock, below
        for done, folder in enumerate(folders):
            progress(FOLDERS_PHASE, done, len(folders))
            scanned.add(folder)
            _rebuild_folder(workspace, secrets, config, folder, report)
    for folder in before - scanned:
        # A folder that is not there any more: its snapshots' files are gone with it.
        workspace.catalog.replace_folder_snapshots(folder, [])
    _merge_remotes(workspace, config, remotes, report, progress)
    report.snapshots = workspace.catalog.snapshot_count()
    return report


def _rebuild_folder(
    workspace: Workspace, secrets: SecretStore, config: Config, folder: Path, report: RebuildReport
) -> None:
    lock = FileLock(folder / FOLDER_LOCK_NAME)
    if not lock.acquire_within(FOLDER_LOCK_PATIENCE):
        report.busy.append(
            f"{folder}: a backup, prune or restore held it throughout; its "
            "snapshots were left as they were (rebuild again after it)"
        )
        return
    try:
        report.folders += 1
        for stem in sweep_folder(folder, workspace.paths.run_dir).finished_deletions:
            log.info("finished deleting snapshot %s (interrupted before)", stem)
        scan = scan_folder(folder)
        rewritten = rewrite_lost_manifests(workspace, scan)
        for snap_id in rewritten:
            report.recovered.append(f"{snap_id}: manifest written back from the catalog")
        if rewritten:  # else the folder is as scanned (we hold its lock)
            scan = scan_folder(folder)
        found = {m.id: (m, status) for m, status in scan.found}
        items = _recover(workspace, secrets, config, scan, found, report)
        workspace.catalog.replace_folder_snapshots(
            folder, [(m, folder, status) for m, status in found.values()]
        )
        workspace.catalog.set_attention(folder, items)
        report.attention += [f"{i.path}: {i.reason}" for i in items]
        report.unreadable += [f"{p}: {why}" for p, why in scan.unreadable if p.exists()]
        report.missing += [m.id for m, status in found.values() if status != "ok"]
    finally:
        lock.release()


def _recover(
    workspace: Workspace,
    secrets: SecretStore,
    config: Config,
    scan: FolderScan,
    found: dict[str, tuple[Manifest, str]],
    report: RebuildReport,
) -> list[AttentionItem]:
    """Re-derive the manifests of the folder's orphaned artifacts and of those whose
    manifest is unreadable (fulls first: a differential needs its base); return what
    still needs attention."""
    damaged = {p.name.removesuffix(MANIFEST_SUFFIX): p for p, _ in scan.unreadable}
    candidates = [p for p in scan.orphans if p.name.endswith(RECOVERABLE)]
    for stem in damaged:
        candidates += [
            scan.folder / (stem + suffix)
            for suffix in RECOVERABLE
            if (scan.folder / (stem + suffix)).is_file()
        ]
    if not candidates:  # nothing to re-derive: the folder is as scanned (under its lock)
        return scan.attention()
    identities, why_none = _identities(secrets)
    recovery = Recovery(
        workspace.run,
        workspace.scratch(config),
        identities,
        list(config.general.recipients),
        {mid: (scan.folder, m) for mid, (m, st) in found.items() if st == "ok"},
        source_path=str(config.sources[scan.folder.name].path)
        if scan.folder.name in config.sources
        else "",
        no_key_reason=why_none,
    )
    recovered: set[str] = set()
    unrecoverable: dict[Path, str] = {}
    for path in sorted(candidates, key=lambda p: DIFF_SUFFIX in p.name):
        manifest_path = damaged.get(_stem(path))
        try:
            if manifest_path is not None:
                keep_damaged_manifest(manifest_path, workspace.run)
            manifest = rederive(path, recovery)
        except CannotRederive as exc:
            unrecoverable[path] = f"Not recoverable here: {exc}"
            if manifest_path is not None:  # its damaged manifest's item says why too
                unrecoverable[manifest_path] = unrecoverable[path]
            continue
        recovered.add(_stem(path))
        found[manifest.id] = (manifest, "ok" if manifest.check_result == "ok" else "corrupt")
        recovery.known[manifest.id] = (scan.folder, manifest)
        report.recovered.append(f"{manifest.id}: {path}")
        log.info("recovered the manifest of snapshot %s from %s", manifest.id, path)
    return [
        replace(item, reason=f"{item.reason}. {unrecoverable[item.path]}")
        if item.path in unrecoverable
        else item
        for item in scan_folder(scan.folder).attention()
        if _stem(item.path) not in recovered
    ]


def _identities(secrets: SecretStore) -> tuple[list[str], str | None]:
    """This machine's age identities, or why there are none to use (a locked keyring is
    not "no key")."""
    try:
        return stored_identities(secrets), None
    except LifeboatError as exc:
        return [], exc.message


def _merge_remotes(
    workspace: Workspace,
    config: Config,
    remotes: bool,
    report: RebuildReport,
    progress: Progress,
) -> None:
    """Each reachable remote's copies replace what the catalog knew of that remote; a
    snapshot only a remote holds gets a row; an unreachable remote keeps its rows."""
    for done, remote in enumerate(config.remotes.values()):
        progress(REMOTES_PHASE, done, len(config.remotes))
        try:
            if not remotes:
                raise LifeboatError("not scanned")
            remote_scan = scan_remote(remote, workspace.stores)
        except LifeboatError as exc:
            if remotes:
                report.remote_errors.append(f"{remote.name}: {exc.message}")
            continue
        pairs: list[tuple[str, RemoteCopy]] = []
        for manifest, copy in remote_scan.found:
            src = config.sources.get(manifest.source)
            folder = (
                workspace.snapshot_folder(config, src)
                if src is not None
                else workspace.snapshot_root(config) / manifest.source
            )
            workspace.catalog.add_remote_only(manifest, folder)
            pairs.append((manifest.id, copy))
        workspace.catalog.replace_remote_copies(remote.name, pairs)
        _adopt_history(workspace, remote, report)
        report.remote_snapshots[remote.name] = len(remote_scan.found)
        report.unreadable += remote_scan.unreadable
        report.remote_incomplete += remote_scan.incomplete
        report.remote_mismatched += remote_scan.mismatched
    progress(REMOTES_PHASE, len(config.remotes), len(config.remotes))
    workspace.catalog.forget_snapshots_nowhere()


def _adopt_history(workspace: Workspace, remote: RemoteConfig, report: RebuildReport) -> None:
    """The continuous history the remote holds, as proven copies (remote/history_scan)."""
    try:
        store = workspace.stores.open(remote)
        try:
            copies = scan_history(store, remote)
        finally:
            store.close()
    except LifeboatError as exc:
        report.remote_errors.append(f"{remote.name}: its history: {exc.message}")
        return
    workspace.catalog.replace_segment_copies(remote.name, copies)


def _stem(artifact: Path) -> str:
    """The snapshot stem of an artifact's file name."""
    return artifact.name.split(".", 1)[0]
