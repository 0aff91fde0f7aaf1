"""Settings: load, validate and save the TOML config (sources, general settings).

Every value is validated on load; an error names the file, the line and the key. Saving
is atomic. No secret ever lives here: credentials and keys go to the OS keyring.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import tomli_w

from lifeboat.core.dbcheck import CHECK_MODES
from lifeboat.core.fsutil import atomic_write_bytes
from lifeboat.core.manifest import SOURCE_NAME_RE
from lifeboat.core.retention import DEFAULT_KEEP, KeepSpecError, parse_keep
from lifeboat.core.schedule import ScheduleError, parse_duration, parse_schedule
from lifeboat.errors import ConfigError

DEFAULT_SCHEDULE = "daily 03:00"
_HEADER = ("# Lifeboat settings. Edit with care, or use `lifeboat source ...` and the tray.\n"
           "# Secrets never go here: credentials and keys live in the OS keyring.\n\n")


# -- value validators: each returns the clean value or raises ValueError ----------------

def _path(value: Any) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty path in quotes")
    if "\0" in value:
        raise ValueError("must not contain a NUL character")
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise ValueError(f"{value!r} must be an absolute path")
    return path


def _schedule(value: Any) -> str:
    try:
        return parse_schedule(value).spec
    except ScheduleError as exc:
        raise ValueError(str(exc)) from None


def _keep(value: Any) -> str:
    try:
        return parse_keep(value).spec
    except KeepSpecError as exc:
        raise ValueError(str(exc)) from None


def _duration(value: Any) -> str:
    parse_duration(value)
    return str(value).strip().lower()


def _durations(value: Any) -> str:
    """A comma-separated list of durations, e.g. '1m,5m,25m' ('' for none)."""
    if not isinstance(value, str):
        raise ValueError("must be text like '1m,5m,25m'")
    parts = [p.strip() for p in value.split(",") if p.strip()]
    for part in parts:
        parse_duration(part)
    return ",".join(parts)


def _timezone(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be 'local' or a time zone name like 'Europe/Berlin'")
    if value != "local":
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use a name like "
                             "'Europe/Berlin' or 'local'") from None
    return value


def _url(value: Any) -> str:
    from urllib.parse import urlsplit

    if not isinstance(value, str):
        raise ValueError("must be an http(s) URL in quotes")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise ValueError("must not carry a user name or password")
    return value


def _command(value: Any) -> str | list[str]:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError("must be a command line in quotes, or a list of its words")


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _choice(*options: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)} (got {value!r})")
        return str(value)
    return check


def _int_range(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return value
    return check


def _number_range(low: float, high: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not low <= value <= high:
            raise ValueError(f"must be a number from {low:g} to {high:g}")
        return float(value)
    return check


def source_name(value: Any) -> str:
    if not isinstance(value, str) or not SOURCE_NAME_RE.match(value):
        raise ValueError(f"{value!r} is not a usable name: use 1-64 letters, digits, '-' or "
                         "'_', starting with a letter or digit")
    return value


# -- the settings model -------------------------------------------------------------

@dataclass(frozen=True)
class SourceConfig:
    name: str
    path: Path
    dest: Path | None = None
    schedule: str = DEFAULT_SCHEDULE
    keep: str = DEFAULT_KEEP
    check: str = "quick"
    prune: bool = True
    stale_after: str | None = None
    before: str | list[str] | None = None
    after: str | list[str] | None = None
    hook_shell: bool = False
    hook_timeout: float = 300.0


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


_SOURCE_FIELDS: dict[str, Callable[[Any], Any]] = {
    "path": _path, "dest": _path, "schedule": _schedule, "keep": _keep,
    "check": _choice(*CHECK_MODES), "prune": _bool, "stale_after": _duration,
    "before": _command, "after": _command, "hook_shell": _bool,
    "hook_timeout": _number_range(1, 86400),
}
_GENERAL_FIELDS: dict[str, Callable[[Any], Any]] = {
    "snapshot_dir": _path, "temp_dir": _path,
    "compression_level": _int_range(1, 19), "busy_timeout": _number_range(1, 3600),
    "timezone": _timezone, "concurrency": _int_range(1, 8), "retry_delays": _durations,
    "notify_url": _url, "metrics_file": _path,
}
_REQUIRED_SOURCE_FIELDS = ("path",)


@dataclass(frozen=True)
class Config:
    path: Path
    general: GeneralConfig = field(default_factory=GeneralConfig)
    sources: dict[str, SourceConfig] = field(default_factory=dict)

    def source(self, name: str) -> SourceConfig:
        from lifeboat.errors import NotFound

        try:
            return self.sources[name]
        except KeyError:
            known = ", ".join(self.sources) or "none yet"
            raise NotFound(f"no source named {name!r} (sources: {known})",
                           "see `lifeboat source list`") from None

    def with_source(self, source: SourceConfig) -> Config:
        return replace(self, sources={**self.sources, source.name: source})

    def without_source(self, name: str) -> Config:
        return replace(self, sources={k: v for k, v in self.sources.items() if k != name})


# -- load and save ------------------------------------------------------------------

def load_config(path: Path) -> Config:
    """Read and validate the config file (a missing file is an empty config)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config(path=path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", "check the file") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}",
                          "fix the line it names, or move the file aside to start over"
                          ) from None
    return parse_config(data, path, text)


def parse_config(data: dict[str, Any], path: Path, text: str = "") -> Config:
    def fail(keys: tuple[str, ...], problem: str) -> ConfigError:
        line = locate_key(text, keys)
        where = f"{path}:{line}" if line else str(path)
        return ConfigError(f"{where}: {'.'.join(keys)}: {problem}",
                           "fix that value in the config file")

    for key in data:
        if key not in ("general", "sources"):
            raise fail((key,), "unknown setting; the file has [general] and [sources.NAME]")
    general_data = _table(data.get("general", {}), ("general",), fail)
    general = GeneralConfig(**_validate(general_data, _GENERAL_FIELDS, ("general",), fail))
    sources: dict[str, SourceConfig] = {}
    for name, raw in _table(data.get("sources", {}), ("sources",), fail).items():
        keys = ("sources", name)
        try:
            source_name(name)
        except ValueError as exc:
            raise fail(keys, str(exc)) from None
        values = _validate(_table(raw, keys, fail), _SOURCE_FIELDS, keys, fail)
        for required in _REQUIRED_SOURCE_FIELDS:
            if required not in values:
                raise fail(keys, f"missing '{required}'")
        sources[name] = SourceConfig(name=name, **values)
    return Config(path=path, general=general, sources=sources)


def save_config(config: Config) -> None:
    data: dict[str, Any] = {}
    general = _dump(config.general, GeneralConfig())
    if general:
        data["general"] = general
    if config.sources:
        data["sources"] = {name: _dump(src, None) for name, src in config.sources.items()}
    config.path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(config.path, (_HEADER + tomli_w.dumps(data)).encode())


def _dump(obj: Any, defaults: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):
        if f.name == "name":
            continue
        value = getattr(obj, f.name)
        if value is None or (defaults is not None and value == getattr(defaults, f.name)):
            continue
        out[f.name] = str(value) if isinstance(value, Path) else value
    return out


def _table(value: Any, keys: tuple[str, ...], fail: Callable[..., ConfigError]
           ) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(keys, "must be a table, e.g. [" + ".".join(keys) + "]")
    return value


def _validate(raw: dict[str, Any], spec: dict[str, Callable[[Any], Any]],
              keys: tuple[str, ...], fail: Callable[..., ConfigError]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in spec:
            raise fail((*keys, key), "unknown setting; known here: " + ", ".join(spec))
        try:
            clean[key] = spec[key](value)
        except ValueError as exc:
            raise fail((*keys, key), str(exc)) from None
    return clean


def validate_value(section: str, key: str, value: Any) -> Any:
    """Validate one value as the config file would (for the CLI and the GUI)."""
    spec = _SOURCE_FIELDS if section == "source" else _GENERAL_FIELDS
    return spec[key](value)


# -- finding the line of a key, for error messages ----------------------------------

_HEADER_RE = re.compile(r"^\s*\[(?!\[)\s*(?P<inner>[^\]]+?)\s*\]\s*(#.*)?$")
_KEY_RE = re.compile(r"""^\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[A-Za-z0-9_-]+))\s*=""")


def locate_key(text: str, keys: tuple[str, ...]) -> int | None:
    """The 1-based line where `keys` (a table path plus maybe a key) is defined."""
    if not text:
        return None
    table: tuple[str, ...] = ()
    best: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER_RE.match(line)
        if header:
            table = _header_path(header.group("inner"))
            if table == keys:
                return number
            if best is None and keys[: len(table)] == table and table:
                best = number
            continue
        key = _KEY_RE.match(line)
        if key:
            name = key.group("dq") or key.group("sq") or key.group("bare")
            if (*table, name) == keys:
                return number
    return best


def _header_path(inner: str) -> tuple[str, ...]:
    try:
        data: Any = tomllib.loads(f"[{inner}]\n")
    except tomllib.TOMLDecodeError:
        return ()
    path: list[str] = []
    while isinstance(data, dict) and len(data) == 1:
        (name, data), = data.items()
        path.append(name)
    return tuple(path)
