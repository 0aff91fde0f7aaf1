"""The service's sources: the databases it backs up (add, change, remove, list).

Part of the `Service` façade (facade.py mixes this in).
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from lifeboat.core.config import source_name, validate_value
from lifeboat.core.config_model import SourceConfig
from lifeboat.foundation.errors import ConfigError
from lifeboat.jobs.prune import delete_snapshot
from lifeboat.service.source_changes import check_database

if TYPE_CHECKING:
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

    def snapshot_folder(self, name: str | None = None) -> Path:
        """The folder a source's snapshots are in (or, without a name, the snapshot root),
        made if missing: for "Show in folder"."""
        config = self.workspace.config()
        if name is None:
            return self.workspace.snapshot_root_folder(config)
        return self.workspace.source_folder(config, config.source(name))


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
