"""The service's housekeeping: sweeping what ended runs left, tidying source folders,
recording interrupted jobs, rebuilding the catalog, aborting abandoned uploads.

Part of the `Service` façade (facade.py mixes this in).
"""

from __future__ import annotations

import logging
import sqlite3
from typing import TYPE_CHECKING

from lifeboat.core.leftovers import sweep_legacy_temp
from lifeboat.core.runs import job_alive, sweep_runs
from lifeboat.foundation.errors import LifeboatError
from lifeboat.foundation.progress import Progress, no_progress
from lifeboat.remote.open_uploads import abort_ended_uploads_soon

# Imported here for the type checker only; at run time inside the functions that use
# them: they load heavy libraries (zstandard, apsw, APScheduler, numpy) or the jobs,
# which commands such as `lifeboat status` must not pay for at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    from lifeboat.core.results import RebuildReport


if TYPE_CHECKING:
    from lifeboat.core.secrets import SecretStore
    from lifeboat.core.workspace import Workspace

log = logging.getLogger(__name__)


class HousekeepingMethods:
    workspace: Workspace
    secrets: SecretStore

    def rebuild_catalog(
        self, *, remotes: bool = True, progress: Progress = no_progress
    ) -> RebuildReport:
        """Recreate the catalog from the manifests on disk and, with `remotes`, on every
        configured remote (see service/rebuild.py); nothing found is deleted. `progress`
        hears each snapshot folder, then each remote (rebuild.FOLDERS_PHASE, REMOTES_PHASE)."""
        from lifeboat.service.rebuild import rebuild_catalog

        return rebuild_catalog(self.workspace, self.secrets, remotes=remotes, progress=progress)

    def remotes_with_unknown_backups(self) -> list[str]:
        """The configured remotes of which the catalog knows no copy: a remote added on a
        new machine, whose backups (made elsewhere) only a rebuild with the remote scan
        can list (the GUI offers "Look for backups on this remote")."""
        remotes = self.workspace.config().remotes
        if not remotes:
            return []
        known = self.workspace.catalog.remotes_with_copies()
        return [name for name in remotes if name not in known]

    def abort_abandoned_uploads(self) -> None:
        """In the background: abort the multipart uploads killed runs left open."""
        abort_ended_uploads_soon(self.workspace)

    def sweep(self) -> None:
        """Remove what ended runs left (their scratch folders, with anything decrypted or
        decompressed in them, and their work files wherever they noted them) and record
        their unfinished jobs as interrupted. Cheap; done at the start of every command
        and of the tray. Best effort: a full disk or a bad config never stops a command
        here (the command itself says what is wrong)."""
        paths = self.workspace.paths
        try:
            config = self.workspace.config()
            swept = sweep_runs(paths.run_dir, [config.general.temp_dir or paths.temp_dir])
            removed = swept.removed
            if config.general.temp_dir is None:  # only Lifeboat's own temp folder
                removed += sweep_legacy_temp(paths.temp_dir, self.workspace.catalog)
            for path in removed:
                log.info("removed what an interrupted run left: %s", path)
            for folder in swept.unreachable:
                log.warning(
                    "an interrupted run's work files may be left in %s, which cannot "
                    "be reached now; they are removed once it can",
                    folder,
                )
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
        from lifeboat.jobs.tidy import tidy_folder

        config = self.workspace.config()
        for src in config.sources.values():
            folder = self.workspace.snapshot_folder(config, src)
            if not folder.is_dir():
                continue
            try:
                tidy_folder(self.workspace, folder, src.name)
            except (LifeboatError, OSError) as exc:
                log.warning("could not tidy %s: %s", folder, getattr(exc, "message", exc))
