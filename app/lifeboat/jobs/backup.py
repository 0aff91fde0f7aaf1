"""BackupJob: take a snapshot of one source and record it in the catalog."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.config_model import SourceConfig
from lifeboat.core.dbcopy import CopySettings
from lifeboat.core.fsutil import hold_lock
from lifeboat.core.hashing import sha256_file
from lifeboat.core.hooks import HookResult, run_hook
from lifeboat.core.manifest import (
    PAGES_SUFFIX,
    Manifest,
    iso_utc,
    utc_now,
)
from lifeboat.core.pagehashes import rebuild_page_hashes
from lifeboat.core.private import is_link
from lifeboat.core.schedule_times import covered
from lifeboat.core.snapshot import Unchanged, take_snapshot
from lifeboat.core.snapshot_request import BaseRef, SafetyOptions, SnapshotRequest
from lifeboat.core.sqlite_file import probe_database
from lifeboat.core.workspace import FOLDER_LOCK_NAME, Workspace
from lifeboat.foundation.errors import (
    Cancelled,
    CorruptSnapshot,
    LifeboatError,
    OperationFailed,
    SourceError,
)
from lifeboat.foundation.progress import CancelToken, Progress
from lifeboat.foundation.states import JobKind, JobStatus
from lifeboat.foundation.units import format_bytes
from lifeboat.jobs.base import JobOutcome
from lifeboat.jobs.last_backup import (
    COVERING_REASONS,
    last_backed_up,
    newest_intact,
    unchanged_outcome,
)
from lifeboat.jobs.tidy import tidy_folder

log = logging.getLogger(__name__)


class BackupJob:
    kind = JobKind.BACKUP

    def __init__(
        self,
        workspace: Workspace,
        source: str,
        *,
        reason: str = "manual",
        protect: bool = False,
        skip_if_covered: bool = False,
        full: bool = False,
    ) -> None:
        self.workspace = workspace
        self.source = source
        self.reason = reason
        self.protect = protect
        self.skip_if_covered = skip_if_covered
        self.full = full
        self._src: SourceConfig | None = None
        self._folder: Path | None = None

    def prepare(self) -> None:
        config = self.workspace.config()
        src = config.source(self.source)
        check_source_path(src)
        probe_database(src.path)
        self._folder = self.workspace.source_folder(config, src)
        self.workspace.scratch(config)
        self._src = src

    def run(self, progress: Progress, cancel: CancelToken) -> JobOutcome[Manifest | None]:
        assert self._src is not None and self._folder is not None, "prepare() first"
        src, folder = self._src, self._folder
        if self.skip_if_covered:
            last = last_backed_up(self.workspace, src.name, reasons=COVERING_REASONS)
            if covered(src.backup_schedule, last, utc_now()):
                assert last is not None
                return JobOutcome(
                    result=None,
                    status=JobStatus.SKIPPED,
                    message=(f"skipped: the backup of {iso_utc(last)} already covers this period"),
                )
        hooks: list[HookResult] = []
        with hold_lock(
            folder / FOLDER_LOCK_NAME,
            f"a backup of {src.name} is already running",
            "wait for it to finish",
        ):
            try:
                self._hook(src, "before", hooks, {"LIFEBOAT_PHASE": "before"}, cancel)
            except Cancelled:
                self._after_hook_anyway(src, hooks, "cancelled")
                raise
            same_as = self._compared_with(src)
            try:
                manifest = snapshot_source(
                    self.workspace,
                    src,
                    folder,
                    reason=self.reason,
                    protect=self.protect,
                    progress=progress,
                    cancel=cancel,
                    full=self.full,
                    unchanged_since=same_as.manifest if same_as else None,
                )
            except Unchanged as same:
                return self._unchanged(src, same.manifest, hooks, cancel)
            except BaseException:
                self._after_hook_anyway(src, hooks, "failed")
                raise
            self._hook(
                src,
                "after",
                hooks,
                {
                    "LIFEBOAT_PHASE": "after",
                    "LIFEBOAT_RESULT": "ok",
                    "LIFEBOAT_SNAPSHOT_ID": manifest.id,
                },
                cancel,
            )
        return _backed_up(manifest, hooks)

    def _unchanged(
        self, src: SourceConfig, kept: Manifest, hooks: list[HookResult], cancel: CancelToken
    ) -> JobOutcome[Manifest | None]:
        """The database holds what snapshot `kept` holds: nothing was stored; the after
        hook runs as after any good backup (told which snapshot holds the data)."""
        env = {"LIFEBOAT_PHASE": "after", "LIFEBOAT_RESULT": "ok", "LIFEBOAT_UNCHANGED": "1"}
        self._hook(src, "after", hooks, {**env, "LIFEBOAT_SNAPSHOT_ID": kept.id}, cancel)
        return unchanged_outcome(self.workspace, kept, hooks)

    def _compared_with(self, src: SourceConfig) -> SnapshotRecord | None:
        """The snapshot an unchanged database is not stored again beside: the newest one
        here, proven intact. None (always store) when the user asked by name for something
        else: a whole new snapshot (--full), a protected one, or one with a reason of
        their own ("before the upgrade", a pinned copy)."""
        if self.full or self.protect or self.reason not in COVERING_REASONS:
            return None
        return newest_intact(self.workspace, src.name)

    def _hook(
        self,
        src: SourceConfig,
        name: str,
        results: list[HookResult],
        env: dict[str, str],
        cancel: CancelToken | None,
        check: bool = True,
    ) -> None:
        """Run the source's `name` hook. The after hook also runs when the backup failed or
        was cancelled (cancel=None), so an app paused by `before` is resumed."""
        command = getattr(src, name)
        if not command:
            return
        result = run_hook(
            name,
            command,
            shell=src.hook_shell,
            timeout=src.hook_timeout,
            env={"LIFEBOAT_SOURCE": src.name, "LIFEBOAT_DB": str(src.path), **env},
            cancel=cancel,
        )
        results.append(result)
        log.info("%s: %s", src.name, result.summary() if not result.ok else f"{name} hook ok")
        if not result.ok and check:
            if name == "before":
                self._after_hook_anyway(src, results, "failed")
            raise OperationFailed(
                f"{src.name}: {result.summary()}", f"fix the {name} command of source {src.name}"
            )

    def _after_hook_anyway(self, src: SourceConfig, results: list[HookResult], how: str) -> None:
        """The after hook of a backup that failed or was cancelled (`how`): it runs
        uncancellable, and its own failure is logged, not raised."""
        self._hook(
            src,
            "after",
            results,
            {"LIFEBOAT_PHASE": "after", "LIFEBOAT_RESULT": how},
            None,
            check=False,
        )


def _backed_up(manifest: Manifest, hooks: list[HookResult]) -> JobOutcome[Manifest | None]:
    """The outcome of a backup that stored `manifest`."""
    return JobOutcome(
        snapshot_id=manifest.id,
        result=manifest,
        detail={
            "size": manifest.size,
            "db_size": manifest.db_size,
            "kind": manifest.kind,
            "base": manifest.base,
            "duration_s": manifest.duration_s,
            "hooks": [h.to_json() for h in hooks],
        },
    )


def choose_base(
    workspace: Workspace, src: SourceConfig, now: datetime, progress: Progress, cancel: CancelToken
) -> BaseRef | None:
    """The newest full snapshot of `src`, if a differential may be taken against it: good,
    here on disk, younger than rebase_after, with its page-hash list (rebuilt if lost)."""
    full = next(
        (r for r in workspace.catalog.snapshots(src.name) if r.manifest.kind == "full"), None
    )
    if full is None or full.status != "ok" or not full.path.is_file():
        return None
    if now - full.manifest.created_at > src.rebase_age:
        return None
    try:
        if probe_database(src.path).page_size != full.manifest.page_size:
            return None
    except LifeboatError:
        return None
    pages = full.folder / f"{full.manifest.stem}{PAGES_SUFFIX}"
    if (
        not pages.is_file()
        or full.manifest.pages_sha256 is None
        or sha256_file(pages) != full.manifest.pages_sha256
    ):
        if full.manifest.local_encryption:
            # Rebuilding the list would need the key; a new full base does not.
            log.info(
                "%s: the page list of base %s is missing and the base is encrypted; "
                "taking a new full snapshot",
                src.name,
                full.id,
            )
            return None
        try:
            manifest = rebuild_page_hashes(
                full.folder, full.manifest, pages, workspace.run, progress, cancel
            )
        except CorruptSnapshot as exc:
            log.warning(
                "%s: base %s is damaged (%s); taking a new full snapshot",
                src.name,
                full.id,
                exc.message,
            )
            return None
        workspace.catalog.update_manifest(manifest)
        return BaseRef(manifest, pages)
    return BaseRef(full.manifest, pages)


def check_source_path(src: SourceConfig) -> None:
    """A source's database path must still be the file it was: never a link planted or
    made since (Lifeboat would read, or restore over, whatever it points to)."""
    if is_link(src.path):
        raise SourceError(
            f"{src.path} (source {src.name}) is a symbolic link now; Lifeboat does not follow it",
            "if the database moved, remove the source and add its real path",
        )


def snapshot_source(
    workspace: Workspace,
    src: SourceConfig,
    folder: Path,
    *,
    reason: str,
    protect: bool,
    progress: Progress,
    cancel: CancelToken,
    full: bool = False,
    unchanged_since: Manifest | None = None,
    safety: SafetyOptions | None = None,
) -> Manifest:
    """Take and record one snapshot (a differential where one fits), holding the folder's
    lock; `safety`: a restore's or merge's safety snapshot; Unchanged: as `unchanged_since`."""
    config = workspace.config()
    tidy_folder(workspace, folder, src.name)
    recipients = tuple(config.general.recipients) if src.encrypt_local else ()
    if src.encrypt_local and not recipients:
        raise LifeboatError(
            f"source {src.name} keeps its snapshots encrypted, but there is no encryption key",
            "create one: lifeboat key init",
        )
    incremental = src.incremental and not full
    base = choose_base(workspace, src, utc_now(), progress, cancel) if incremental else None
    request = SnapshotRequest(
        source=src.name,
        source_path=src.path,
        folder=folder,
        run=workspace.run,
        scratch=workspace.scratch(config),
        check=src.check,
        level=config.general.compression_level,
        reason=reason,
        protected=protect,
        copy=CopySettings(busy_timeout=config.general.busy_timeout),
        expected_ratio=_expected_ratio(workspace, src.name),
        hash_pages=src.incremental,
        base=base,
        rebase_ratio=src.rebase_ratio,
        recipients=recipients,
        unchanged_since=unchanged_since,
        whole_sha256=safety is None,
        checkpoint_first=safety is not None,
        writes_held=safety is not None and safety.writes_held,
        share=safety.share if safety is not None else None,
    )
    manifest = take_snapshot(request, progress=progress, cancel=cancel)
    workspace.catalog.add_snapshot(manifest, folder)
    log.info(
        "snapshot %s of %s (%s): %s -> %s in %.1f s",
        manifest.id,
        src.name,
        reason,
        format_bytes(manifest.db_size),
        format_bytes(manifest.size),
        manifest.duration_s,
    )
    return manifest


def _expected_ratio(workspace: Workspace, source: str) -> float:
    for record in workspace.catalog.snapshots(source):
        if record.manifest.db_size and record.manifest.kind == "full":
            return record.manifest.size / record.manifest.db_size
    return 1.0
