"""Source settings changed as a whole, the way the tray's Settings dialog edits them.

The dialog stages any number of added, changed and removed sources; `check_changes`
finds every invalid field at once (so each can be shown next to its field), and
`apply_changes` writes them all in one config transaction, or nothing. No Qt here.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

from lifeboat.core.config import source_name, validate_value
from lifeboat.core.config_model import Config, SourceConfig
from lifeboat.core.sqlite_file import open_source, probe_database
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import ConfigError, SourceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceDraft:
    """One source as the dialog would save it (`stale_after` None: automatic)."""

    name: str
    path: Path
    schedule: str
    keep: str
    check: str = "quick"
    stale_after: str | None = None
    remote: str | None = None  # the remote its snapshots are uploaded to
    encrypt_local: bool = False
    saved_encrypt_local: bool = False  # as in the config (switching off asks first)
    is_new: bool = False

    @classmethod
    def of(cls, source: SourceConfig) -> SourceDraft:
        return cls(
            name=source.name,
            path=source.path,
            schedule=source.schedule,
            keep=source.keep,
            check=source.check,
            stale_after=source.stale_after,
            remote=source.remote,
            encrypt_local=source.encrypt_local,
            saved_encrypt_local=source.encrypt_local,
        )


@dataclass(frozen=True)
class FieldProblem:
    index: int  # of the draft in the list given
    source: str
    field: str  # name | schedule | keep | check | stale_after | path | remote | encrypt_local
    message: str


class ChangesRejected(ConfigError):
    """Some staged values are invalid; `problems` says which and why."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        first = problems[0]
        super().__init__(
            f"{first.source}: {first.field}: {first.message}",
            "fix the fields marked in red; nothing was saved",
        )
        self.problems = problems


def check_database(path: Path | str) -> Path:
    """The absolute path of a SQLite database Lifeboat can back up; SourceError if not.

    A path that is a symbolic link gives the file it points to: a source is always the
    real file, so a link planted or changed later is never followed (a backup or restore
    refuses a source path that has become a link)."""
    db_path = Path(path).expanduser().absolute()
    if os.path.islink(db_path):
        try:
            db_path = db_path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise SourceError(
                f"{db_path} is a symbolic link to nothing (or to itself)",
                "give the path of the database file itself",
            ) from None
    probe_database(db_path)
    open_source(db_path, timeout=5).close()
    return db_path


def check_changes(
    config: Config, drafts: list[SourceDraft], removed: list[str], remotes: set[str] | None = None
) -> list[FieldProblem]:
    """Every problem of the staged changes against `config` (empty: all can be saved).
    `remotes`: the remotes there will be (when remotes are staged too; else the config's)."""
    problems: list[FieldProblem] = []
    known_remotes = set(config.remotes) if remotes is None else remotes
    remaining = {n: s for n, s in config.sources.items() if n not in removed}
    seen_names: set[str] = set()
    seen_paths: dict[Path, str] = {s.path: n for n, s in remaining.items()}
    for index, draft in enumerate(drafts):

        def bad(field: str, message: str, draft: SourceDraft = draft, index: int = index) -> None:
            problems.append(FieldProblem(index, draft.name, field, message))

        if draft.is_new:
            try:
                source_name(draft.name)
            except ValueError as exc:
                bad("name", str(exc))
            if draft.name in remaining or draft.name in seen_names:
                bad("name", f"a source named {draft.name!r} already exists; choose another name")
            other = seen_paths.get(draft.path)
            if other is not None:
                bad("path", f"this database is already backed up as {other!r}")
            seen_paths[draft.path] = draft.name
        elif draft.name not in remaining:
            bad("name", "this source was removed meanwhile (by another Lifeboat window or command)")
        seen_names.add(draft.name)
        for key in ("schedule", "keep", "check"):
            try:
                validate_value("source", key, getattr(draft, key))
            except ValueError as exc:
                bad(key, str(exc))
        if draft.stale_after is not None:
            try:
                validate_value("source", "stale_after", draft.stale_after)
            except ValueError as exc:
                bad("stale_after", str(exc))
        if draft.remote is not None and draft.remote not in known_remotes:
            bad("remote", f"there is no remote named {draft.remote!r}")
        if draft.encrypt_local and not config.general.recipients:
            bad(
                "encrypt_local",
                "there is no encryption key yet: untick and tick this "
                "again to create one, or run `lifeboat key init`",
            )
    return problems


def apply_changes(workspace: Workspace, drafts: list[SourceDraft], removed: list[str]) -> Config:
    """Save the staged changes in one transaction; ChangesRejected (nothing saved) if any
    value is invalid. Removed sources keep their snapshots."""
    with workspace.edit_config() as box:
        config = box[0]
        problems = check_changes(config, drafts, removed)
        if problems:
            raise ChangesRejected(problems)
        for name in removed:
            if name in config.sources:
                config = config.without_source(name)
        for draft in drafts:
            values = {
                key: validate_value("source", key, getattr(draft, key))
                for key in ("schedule", "keep", "check")
            }
            stale = (
                validate_value("source", "stale_after", draft.stale_after)
                if draft.stale_after is not None
                else None
            )
            if draft.is_new:
                source = SourceConfig(
                    name=draft.name,
                    path=draft.path,
                    stale_after=stale,
                    remote=draft.remote,
                    encrypt_local=draft.encrypt_local,
                    **values,
                )
            else:
                source = replace(
                    config.sources[draft.name],
                    stale_after=stale,
                    remote=draft.remote,
                    encrypt_local=draft.encrypt_local,
                    **values,
                )
            if source != config.sources.get(source.name):
                workspace.source_folder(config, source)
                config = config.with_source(source)
        box[0] = config
    log.info(
        "settings saved: %d source(s) added, %d changed or kept, %d removed",
        sum(d.is_new for d in drafts),
        sum(not d.is_new for d in drafts),
        len(removed),
    )
    return config
