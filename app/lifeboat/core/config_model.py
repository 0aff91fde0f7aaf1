"""The settings model: what config.toml says, validated, with its specs parsed once.

The TOML keeps specs as text ("daily 03:00", "7d 4w 12m", "16MB"); the model keeps that
text (it is what is saved and shown) and offers the parsed value beside it, computed on
first use, so no caller parses a spec again. Loading and saving live in core/config.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cached_property
from pathlib import Path

from lifeboat.core.history.windows import DEFAULT_WINDOWS, WindowPolicy, parse_windows
from lifeboat.core.retention import DEFAULT_KEEP, RetentionPolicy, parse_keep
from lifeboat.core.schedule import Schedule, parse_duration, parse_schedule
from lifeboat.foundation.errors import NotFound
from lifeboat.foundation.units import parse_rate, parse_size

#: How often a continuously protected source's new history goes to its remote: at most
#: 8,640 uploads a day (2 PUTs each) while its database changes all day, none while it
#: does not (docs/FORMAT.md, "History on a remote").
DEFAULT_UPLOAD_EVERY = "10s"
DEFAULT_SCHEDULE = "daily 03:00"
#: How often a continuously protected rollback-journal database is captured at most when
#: it changes. A minute: a differential is today's stepped copy plus a page comparison
#: (0.8-3 s for a 256 MB database here, bench/journal_bench.py) and may hold the app's
#: writer for up to about a second in its final pass, so once a minute keeps that to a
#: few percent of a core and one short wait a minute, and loses at most a minute of work.
DEFAULT_EVERY = "1m"


@dataclass(frozen=True)
class SourceConfig:
    name: str
    path: Path
    dest: Path | None = None
    #: the name shown in the GUI, spaces and all ("My Notes"); `name` stays the safe one
    #: used on disk and in commands
    display_name: str | None = None
    schedule: str = DEFAULT_SCHEDULE
    keep: str = DEFAULT_KEEP
    check: str = "quick"
    prune: bool = True
    stale_after: str | None = None
    before: str | list[str] | None = None
    after: str | list[str] | None = None
    hook_shell: bool = False
    hook_timeout: float = 300.0
    remote: str | None = None
    remote_keep: str | None = None
    incremental: bool = True
    rebase_ratio: float = 0.5
    rebase_after: str = "7d"
    drill: str = "weekly sun 04:00"
    drill_sql: str | None = None
    #: keep the snapshots on this machine encrypted (age, to general.recipients)
    encrypt_local: bool = False
    #: capture every commit of its WAL while the tray or `lifeboat run` runs (issue 20)
    continuous: bool = False
    #: how much of that history stays restorable (core/history/windows.py)
    continuous_keep: str = DEFAULT_WINDOWS
    #: how often new history goes to its remote (docs/FORMAT.md, "History on a remote")
    continuous_upload_every: str = DEFAULT_UPLOAD_EVERY
    #: a rollback-journal database under continuous protection: a differential when its
    #: file changed, at most this often (scheduling/journal_watch.py)
    continuous_every: str = DEFAULT_EVERY

    @property
    def title(self) -> str:
        """The name a person sees: the display name, or the source name."""
        return self.display_name or self.name

    @cached_property
    def backup_schedule(self) -> Schedule:
        return parse_schedule(self.schedule)

    @cached_property
    def drill_schedule(self) -> Schedule:
        return parse_schedule(self.drill)

    @cached_property
    def local_policy(self) -> RetentionPolicy:
        return parse_keep(self.keep)

    @cached_property
    def history_policy(self) -> WindowPolicy:
        return parse_windows(self.continuous_keep)

    @cached_property
    def upload_every_s(self) -> float:
        """`continuous_upload_every` in seconds."""
        return parse_duration(self.continuous_upload_every).total_seconds()

    @cached_property
    def every_seconds(self) -> float:
        return parse_duration(self.continuous_every).total_seconds()

    @cached_property
    def remote_policy(self) -> RetentionPolicy:
        """What the remote keeps: its own policy, or the local one."""
        return parse_keep(self.remote_keep or self.keep)

    @cached_property
    def stale_override(self) -> timedelta | None:
        """How old the last good snapshot may get before it is stale, if set here."""
        return parse_duration(self.stale_after) if self.stale_after else None

    @cached_property
    def rebase_age(self) -> timedelta:
        return parse_duration(self.rebase_after)


@dataclass(frozen=True)
class RemoteConfig:
    name: str
    provider: str
    bucket: str
    region: str | None = None
    endpoint: str | None = None
    account: str | None = None
    prefix: str = "lifeboat"
    credentials: str = "keyring"
    profile: str | None = None
    insecure: bool = False
    max_upload_rate: str | None = None
    multipart_threshold: str = "64MB"
    part_size: str = "16MB"
    upload_concurrency: int = 4
    encrypt: bool = False

    @cached_property
    def upload_rate(self) -> int | None:
        """Bytes per second, or None for no limit."""
        return parse_rate(self.max_upload_rate) if self.max_upload_rate else None

    @cached_property
    def part_bytes(self) -> int:
        return parse_size(self.part_size)

    @cached_property
    def threshold_bytes(self) -> int:
        return parse_size(self.multipart_threshold)

    @property
    def resolved_endpoint(self) -> str | None:
        from lifeboat.core.providers import endpoint_for, provider

        return self.endpoint or endpoint_for(provider(self.provider), self.region, self.account)

    @property
    def resolved_region(self) -> str:
        from lifeboat.core.providers import provider

        return self.region or provider(self.provider).default_region or "us-east-1"


@dataclass(frozen=True)
class GeneralConfig:
    snapshot_dir: Path | None = None
    temp_dir: Path | None = None
    compression_level: int = 3
    busy_timeout: float = 30.0
    timezone: str = "local"
    concurrency: int = 1
    retry_delays: str = "1m,5m,25m"
    notify_url: str | None = None
    metrics_file: Path | None = None
    #: age recipients ("age1…") every encrypted artifact is encrypted to
    recipients: list[str] = field(default_factory=list)

    @cached_property
    def retry_waits(self) -> tuple[timedelta, ...]:
        """How long to wait before each retry of a failed scheduled run."""
        return tuple(parse_duration(part) for part in self.retry_delays.split(",") if part.strip())


@dataclass(frozen=True)
class Config:
    path: Path
    general: GeneralConfig = field(default_factory=GeneralConfig)
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    remotes: dict[str, RemoteConfig] = field(default_factory=dict)

    def remote(self, name: str) -> RemoteConfig:
        try:
            return self.remotes[name]
        except KeyError:
            known = ", ".join(self.remotes) or "none yet"
            raise NotFound(
                f"no remote named {name!r} (remotes: {known})", "see `lifeboat remote list`"
            ) from None

    def with_remote(self, remote: RemoteConfig) -> Config:
        return replace(self, remotes={**self.remotes, remote.name: remote})

    def without_remote(self, name: str) -> Config:
        return replace(self, remotes={k: v for k, v in self.remotes.items() if k != name})

    def source(self, name: str) -> SourceConfig:
        try:
            return self.sources[name]
        except KeyError:
            known = ", ".join(self.sources) or "none yet"
            raise NotFound(
                f"no source named {name!r} (sources: {known})", "see `lifeboat source list`"
            ) from None

    def with_source(self, source: SourceConfig) -> Config:
        return replace(self, sources={**self.sources, source.name: source})

    def without_source(self, name: str) -> Config:
        return replace(self, sources={k: v for k, v in self.sources.items() if k != name})
