"""The service's continuous protection: a follower per source for the capture thread
(scheduling/capture.py), the capture's problems as events, and the timeline.

Part of the `Service` façade (facade.py mixes this in). The engine is core/history/;
where a source's history lives and its chains are listed is service/history.py.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from lifeboat.core.schedule_durations import duration_words
from lifeboat.foundation.errors import OperationFailed, SourceError
from lifeboat.foundation.states import Trigger

# Imported here for the type checker only; at run time inside the functions that use
# them: they load heavy libraries (zstandard, apsw, APScheduler, numpy) or the jobs,
# which commands such as `lifeboat status` must not pay for at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    from lifeboat.core.history.bases import BaseRef
    from lifeboat.core.history.follower import Follower
    from lifeboat.service.history_checks import ChainCheck
    from lifeboat.service.history_status import Timeline

if TYPE_CHECKING:
    from lifeboat.core.workspace import Workspace
    from lifeboat.foundation.events import Event

log = logging.getLogger(__name__)

#: The events the capture leaves for the status and the health watch.
CAPTURE_RUNNING = "continuous:running"


class ContinuousMethods:
    workspace: Workspace

    if TYPE_CHECKING:

        def publish(self, event: Event) -> None: ...  # Service's

    def continuous_sources(self) -> dict[str, tuple[str, str]]:
        """The sources to follow, each with what its follower depends on (its database
        and its history folder): a change of either starts a new follower."""
        from lifeboat.service.history import history_folder

        config = self.workspace.config()
        return {
            s.name: (str(s.path), str(history_folder(self.workspace, s, make=False)))
            for s in config.sources.values()
            if s.continuous
        }

    def continuous_every(self) -> dict[str, float]:
        """How often each continuously protected source is captured at most, in seconds,
        when its database is in rollback-journal mode (no WAL to follow)."""
        config = self.workspace.config()
        return {s.name: s.every_seconds for s in config.sources.values() if s.continuous}

    def continuous_kind(self, name: str) -> str:
        """Which continuous protection `name` gets, as its database is now: every commit
        (WAL mode) or a differential soon after each change (rollback journal)."""
        from lifeboat.core.sqlite_file import probe_database  # not at every start

        src = self.workspace.config().source(name)
        try:
            wal = probe_database(src.path).wal_mode
        except SourceError as exc:
            return f"its database cannot be read now ({exc.message})"
        if wal:
            return f"every commit, from its WAL (keeps {src.continuous_keep})"
        every = duration_words(timedelta(seconds=src.every_seconds))
        return (
            f"its database is not in WAL mode (rollback journal): a differential snapshot "
            f"when it changed, at most every {every}; "
            "in WAL mode (PRAGMA journal_mode=WAL) every commit would be kept"
        )

    def open_follower(
        self, name: str, *, compact_every_s: float = 30.0, write_every_s: float = 0.5
    ) -> Follower:
        """A follower of `name`'s WAL writing into its history folder (not started: the
        host calls start(), then poll() every 0.15 s, and close()). Its base snapshots are
        taken through the backup pipeline: full, with the source's settings, recorded in
        the catalog with reason "continuous"."""
        from lifeboat.core.history.bases import BaseRef
        from lifeboat.core.history.follower import Follower
        from lifeboat.service.history import history_folder, history_seal_to, open_base
        from lifeboat.service.pipeline import BackupRequest, run_backup_pipeline

        workspace = self.workspace
        config = workspace.config()
        src = config.source(name)
        folder = history_folder(workspace, src)

        def take_base() -> BaseRef:
            outcome = run_backup_pipeline(
                workspace,
                self.publish,
                BackupRequest(
                    name,
                    reason="continuous",
                    trigger=Trigger.CONTINUOUS,
                    full=True,
                    upload=False,  # the next upload sends it
                ),
            )
            if outcome.snapshot is None:
                raise OperationFailed(f"no base snapshot of {name} was taken: {outcome.message}")
            record = outcome.snapshot
            return BaseRef(record.manifest, record.folder)

        return Follower(
            name,
            src.path,
            folder,
            workspace.run,
            workspace.scratch(config),
            take_base,
            lambda base_id: open_base(workspace, name, base_id),
            busy_timeout=config.general.busy_timeout,
            compact_every_s=compact_every_s,
            write_every_s=write_every_s,
            seal_to=history_seal_to(config, src),
        )

    def capture_stopped(self, name: str, why: str) -> None:
        """The capture of `name` keeps failing: recorded once (the status and the health
        watch read it) until it runs again."""
        from lifeboat.service.status import CAPTURE_STOPPED

        if self.workspace.catalog.last_event_kind(name, "continuous:") == CAPTURE_STOPPED:
            return
        log.warning("continuous capture of %s stopped: %s", name, why)
        self.workspace.catalog.add_event("warning", why, name, kind=CAPTURE_STOPPED)

    def history_not_compacted(self, name: str, why: str) -> None:
        """`name`'s sealed history cannot be compacted now (capture goes on): recorded
        once, until the capture says it runs again."""
        from lifeboat.service.status import HISTORY_NOT_COMPACTED

        if self.workspace.catalog.last_event_kind(name, "continuous:") == HISTORY_NOT_COMPACTED:
            return
        log.warning("continuous history of %s not compacted: %s", name, why)
        self.workspace.catalog.add_event("warning", why, name, kind=HISTORY_NOT_COMPACTED)

    def capture_running(self, name: str) -> None:
        """The capture of `name` runs (again): ends a recorded stop."""
        from lifeboat.service.status import CAPTURE_STOPPED, HISTORY_NOT_COMPACTED

        last = self.workspace.catalog.last_event_kind(name, "continuous:")
        if last not in (CAPTURE_STOPPED, HISTORY_NOT_COMPACTED):
            return
        log.info("continuous capture of %s runs again", name)
        self.workspace.catalog.add_event(
            "info", "continuous capture runs again", name, kind=CAPTURE_RUNNING
        )

    def verify_history(self, name: str | None = None) -> list[ChainCheck]:
        """Check `name`'s continuous history (or every source's): each segment's
        checksums, and each chain proven continuous from its base."""
        from lifeboat.service.history_checks import verify_chains

        names = [name] if name is not None else list(self.workspace.config().sources)
        return [check for n in names for check in verify_chains(self.workspace, n)]

    def timeline(self, name: str) -> Timeline:
        """What of `name` can be restored: base snapshots, the spans of commits the
        history covers, its gaps (and why) and merged catch-ups."""
        from lifeboat.service.history import chains_of
        from lifeboat.service.history_remote import remote_history_state
        from lifeboat.service.history_status import timeline_of

        src = self.workspace.config().source(name)
        snapshots = [r for r in self.workspace.catalog.snapshots(name) if r.local]
        chains = chains_of(self.workspace, name)
        held = remote_history_state(self.workspace, src, chains).get("remote_history_until")
        timeline = timeline_of(src, snapshots, chains)
        if src.continuous and src.remote:
            until = held if isinstance(held, datetime) else None
            timeline = replace(timeline, remote=src.remote, remote_until=until)
        return timeline
