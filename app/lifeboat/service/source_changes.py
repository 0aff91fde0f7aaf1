"""Source settings changed as a whole, the way the tray's Settings dialog edits them.

The dialog stages any number of added, changed and removed sources; `check_changes`
finds every invalid field at once (so each can be shown next to its field), and
`apply_changes` writes them all in one config transaction, or nothing. No Qt here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lifeboat.core.config import source_name, source_problems, validate_value
from lifeboat.core.config_model import (
    DEFAULT_EVERY,
    DEFAULT_UPLOAD_EVERY,
    Config,
    SourceConfig,
)
from lifeboat.core.history.windows import DEFAULT_WINDOWS
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
    display_name: str | None = None  # shown in the GUI (None: the name)
    dest: Path | None = None  # the folder its snapshot folder is in (None: Lifeboat's)
    drill: str = "weekly sun 04:00"  # when its restore drills run
    remote_keep: str | None = None  # what its remote keeps (None: the same as `keep`)
    continuous: bool = False  # every commit captured while Lifeboat runs
    continuous_keep: str = DEFAULT_WINDOWS  # how much of that history stays restorable
    continuous_every: str = DEFAULT_EVERY  # a rollback-journal database: at most this often
    continuous_upload_every: str = DEFAULT_UPLOAD_EVERY  # its history to its remote
    saved_encrypt_local: bool = False  # as in the config (switching off asks first)
    saved_dest: Path | None = None  # as in the config (a move there changes it at once)
    is_new: bool = False

    @property
    def title(self) -> str:
        """The name a person sees: the display name, or the name."""
        return self.display_name or self.name

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
            display_name=source.display_name,
            dest=source.dest,
            drill=source.drill,
            remote_keep=source.remote_keep,
            continuous=source.continuous,
            continuous_keep=source.continuous_keep,
            continuous_every=source.continuous_every,
            continuous_upload_every=source.continuous_upload_every,
            saved_encrypt_local=source.encrypt_local,
            saved_dest=source.dest,
        )

    def values(self) -> dict[str, object]:
        """The settings the dialog edits, named as in the config. The folder only when it
        was changed here: a move made meanwhile has already saved its own."""
        values: dict[str, object] = {}
        if self.dest != self.saved_dest or self.is_new:
            values["dest"] = None if self.dest is None else str(self.dest)
        return values | {
            "schedule": self.schedule,
            "keep": self.keep,
            "check": self.check,
            "stale_after": self.stale_after,
            "remote": self.remote,
            "encrypt_local": self.encrypt_local,
            "display_name": self.display_name,
            "drill": self.drill,
            "remote_keep": self.remote_keep,
            "continuous": self.continuous,
            "continuous_keep": self.continuous_keep,
            "continuous_every": self.continuous_every,
            "continuous_upload_every": self.continuous_upload_every,
        }


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


#: Settings a change may leave unset (None): "automatic" or "none".
_MAY_BE_UNSET = frozenset(
    {"dest", "display_name", "stale_after", "remote", "remote_keep", "drill_sql", "before", "after"}
)


def staged_source(
    name: str,
    path: Path,
    values: Mapping[str, object],
    *,
    is_new: bool,
    sources: Mapping[str, SourceConfig],
    remotes: Collection[str],
    recipients: Sequence[str],
) -> tuple[SourceConfig | None, list[tuple[str, str]]]:
    """A source as added or changed, checked: each value (validate_value), then how it
    fits the others (core.config.source_problems). The one way the CLI and the Settings
    dialog check a source. Returns the source, or None and (field, problem) pairs.
    `sources`: every source there is (a changed one included)."""
    problems: list[tuple[str, str]] = []
    if is_new:
        try:
            source_name(name)
        except ValueError as exc:
            problems.append(("name", str(exc)))
    elif name not in sources:
        problems.append(
            ("name", "this source was removed meanwhile (by another Lifeboat window or command)")
        )
    clean: dict[str, Any] = {}
    for key, value in values.items():
        if value is None and key in _MAY_BE_UNSET:
            clean[key] = None
            continue
        try:
            clean[key] = validate_value("source", key, value)
        except ValueError as exc:
            problems.append((key, str(exc)))
    if not is_new and name not in sources:
        return None, problems
    # The values that are valid, checked against the rest: every problem is found at once.
    source = replace(SourceConfig(name=name, path=path) if is_new else sources[name], **clean)
    others = sources if is_new else {n: s for n, s in sources.items() if n != name}
    problems += source_problems(
        source,
        sources=others,
        remotes=remotes,
        recipients=recipients,
        is_new=is_new,
    )
    problems += _title_problems(source, others.values())
    return (None if problems else source), problems


def _title_problems(source: SourceConfig, others: Iterable[SourceConfig]) -> list[tuple[str, str]]:
    """Two databases a person cannot tell apart by name: the one being changed is told."""
    if source.display_name is None:
        return []  # its name is unique among the names already
    title = source.title.casefold()
    for other in others:
        if other.title.casefold() == title:
            return [("display_name", f"another database is already called “{other.title}”")]
    return []


def wal_mode_of(path: Path) -> bool | None:
    """Whether the database at `path` is in WAL mode now, from its header (None: it
    cannot be read now). Settings asks it to say which continuous protection it gets."""
    try:
        return probe_database(path).wal_mode
    except SourceError:
        return None


def _stage(
    config: Config, drafts: list[SourceDraft], removed: list[str], remotes: Collection[str]
) -> tuple[list[SourceConfig], list[FieldProblem]]:
    staged = {n: s for n, s in config.sources.items() if n not in removed}
    sources: list[SourceConfig] = []
    problems: list[FieldProblem] = []
    for index, draft in enumerate(drafts):
        source, found = staged_source(
            draft.name,
            draft.path,
            draft.values(),
            is_new=draft.is_new,
            sources=staged,
            remotes=remotes,
            recipients=config.general.recipients,
        )
        problems += [FieldProblem(index, draft.name, key, text) for key, text in found]
        if source is not None:
            sources.append(source)
            staged[source.name] = source
        elif draft.is_new and draft.name not in staged:
            # Still taken: a second new source with this name or database is a problem too.
            staged[draft.name] = SourceConfig(name=draft.name, path=draft.path)
    return sources, problems


def check_changes(
    config: Config, drafts: list[SourceDraft], removed: list[str], remotes: set[str] | None = None
) -> list[FieldProblem]:
    """Every problem of the staged changes against `config` (empty: all can be saved).
    `remotes`: the remotes there will be (when remotes are staged too; else the config's)."""
    return _stage(config, drafts, removed, set(config.remotes) if remotes is None else remotes)[1]


def apply_changes(workspace: Workspace, drafts: list[SourceDraft], removed: list[str]) -> Config:
    """Save the staged changes in one transaction; ChangesRejected (nothing saved) if any
    value is invalid. Removed sources keep their snapshots."""
    with workspace.edit_config() as edit:
        config = edit.config
        sources, problems = _stage(config, drafts, removed, set(config.remotes))
        if problems:
            raise ChangesRejected(problems)
        for name in removed:
            if name in config.sources:
                config = config.without_source(name)
        for source in sources:
            if source != config.sources.get(source.name):
                workspace.source_folder(config, source)
                config = config.with_source(source)
        edit.config = config
    log.info(
        "settings saved: %d source(s) added, %d changed or kept, %d removed",
        sum(d.is_new for d in drafts),
        sum(not d.is_new for d in drafts),
        len(removed),
    )
    return config
