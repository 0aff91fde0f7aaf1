"""The service's sources: the databases it backs up (add, change, remove, list).

Part of the `Service` façade (facade.py mixes this in).
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from lifeboat.core.config_model import Config, SourceConfig
from lifeboat.foundation.errors import ConfigError

# Imported here for the type checker only; at run time inside the functions that use
# them: they load heavy libraries (zstandard, apsw, APScheduler, numpy) or the jobs,
# which commands such as `lifeboat status` must not pay for at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    pass


if TYPE_CHECKING:
    from lifeboat.core.snapshot_move import MoveReport
    from lifeboat.core.workspace import Workspace

log = logging.getLogger(__name__)


class SourceMethods:
    workspace: Workspace

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
        display_name: str | None = None,
        continuous: bool | None = None,
        continuous_keep: str | None = None,
        continuous_every: str | None = None,
    ) -> SourceConfig:
        from lifeboat.service.source_changes import check_database

        db_path = check_database(path)
        values: dict[str, object] = {
            key: value
            for key, value in (
                ("schedule", schedule),
                ("keep", keep),
                ("check", check),
                ("remote", remote),
                ("remote_keep", remote_keep),
                ("encrypt_local", encrypt_local),
                ("display_name", display_name),
                ("continuous", continuous),
                ("continuous_keep", continuous_keep),
                ("continuous_every", continuous_every),
            )
            if value is not None
        }
        if dest is not None:
            values["dest"] = str(Path(dest).expanduser().absolute())
        with self.workspace.edit_config() as edit:
            source = _checked(
                edit.config,
                name if name is not None else default_source_name(db_path),
                db_path,
                values,
                is_new=True,
                usage="see `lifeboat source add --help`",
            )
            self.workspace.source_folder(edit.config, source)
            edit.config = edit.config.with_source(source)
        log.info("added source %s (%s)", source.name, source.path)
        return source

    def remove_source(self, name: str, *, delete_snapshots: bool = False) -> list[str]:
        """Forget a source; its snapshots stay unless `delete_snapshots`."""
        from lifeboat.jobs.prune import delete_snapshot

        deleted: list[str] = []
        with self.workspace.edit_config() as edit:
            edit.config.source(name)
            if delete_snapshots:
                for record in self.workspace.catalog.snapshots(name):
                    delete_snapshot(self.workspace, record)
                    deleted.append(record.id)
            edit.config = edit.config.without_source(name)
        log.info("removed source %s (deleted %d snapshots)", name, len(deleted))
        return deleted

    def update_source(self, name: str, **changes: object) -> SourceConfig:
        """Change a source's settings (schedule, keep, check, dest, prune, ...); a value
        None leaves that setting as it is."""
        values = {key: value for key, value in changes.items() if value is not None}
        if "dest" in values:
            values["dest"] = str(Path(str(values["dest"])).expanduser().absolute())
        with self.workspace.edit_config() as edit:
            current = edit.config.source(name)
            source = _checked(
                edit.config,
                name,
                current.path,
                values,
                is_new=False,
                usage="see `lifeboat source set --help`",
            )
            self.workspace.source_folder(edit.config, source)
            edit.config = edit.config.with_source(source)
        return source

    def move_snapshots(self, name: str, dest: Path | str) -> MoveReport:
        """Make `dest` the folder where `name`'s snapshots go, moving the ones it has
        there safely (see service/snapshot_moves.py)."""
        from lifeboat.service.snapshot_moves import move_snapshots

        return move_snapshots(self.workspace, name, dest)

    def planned_snapshot_folder(self, name: str, dest: Path | None) -> Path:
        """The folder a source named `name` keeps its snapshots in when they go to `dest`
        (None: Lifeboat's snapshot folder); nothing is created."""
        root = dest if dest is not None else self.workspace.snapshot_root(self.workspace.config())
        return root / name

    def snapshot_folder(self, name: str | None = None) -> Path:
        """The folder a source's snapshots are in (or, without a name, the snapshot root),
        made if missing: for "Show in folder"."""
        config = self.workspace.config()
        if name is None:
            return self.workspace.snapshot_root_folder(config)
        return self.workspace.source_folder(config, config.source(name))


def default_display_name(path: Path) -> str:
    """The name a person would give a database file: 'My Notes.db' -> 'My Notes'."""
    stem = path.name
    for suffix in (".sqlite3", ".sqlite", ".db3", ".db"):
        if stem.lower().endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)].strip() or stem
    return stem


def default_source_name(path: Path) -> str:
    """A source name from a database file name: 'My Notes.db' -> 'My-Notes'."""
    stem = path.name
    for suffix in (".sqlite3", ".sqlite", ".db3", ".db"):
        if stem.lower().endswith(suffix) and len(stem) > len(suffix):
            stem = stem[: -len(suffix)]
            break
    return safe_source_name(stem)


def safe_source_name(title: str, taken: Collection[str] = ()) -> str:
    """The name files and commands use for a database a person calls `title`:
    'My Notes' -> 'My-Notes'; with a number when `taken` has it ('My-Notes-2')."""
    name = base = _safe_name(title)
    for number in itertools.count(2):
        if name not in taken:
            break
        name = f"{base[:60]}-{number}"
    return name


def _safe_name(stem: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-_")[:64] or "db"
    if not name[0].isalnum():
        name = "db" + name
    return name


#: What to do about each kind of problem, in the command line's words.
_CLI_HINTS = {
    "name": "choose another name with --name",
    "path": "change that source instead",
    "remote": "see `lifeboat remote list`",
    "encrypt_local": "create one first: lifeboat key init",
}


def _checked(
    config: Config,
    name: str,
    path: Path,
    values: dict[str, object],
    *,
    is_new: bool,
    usage: str,
) -> SourceConfig:
    from lifeboat.service.source_changes import staged_source

    source, problems = staged_source(
        name,
        path,
        values,
        is_new=is_new,
        sources=config.sources,
        remotes=config.remotes,
        recipients=config.general.recipients,
    )
    if source is None:
        key, problem = problems[0]
        raise ConfigError(problem, _CLI_HINTS.get(key, usage))
    return source
