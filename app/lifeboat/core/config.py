"""Settings: load, validate and save the TOML config (sources, general settings).

Every value is validated on load; an error names the file, the line and the key. Saving
is atomic. No secret ever lives here: credentials and keys go to the OS keyring.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w

from lifeboat.core.config_memo import PARSED
from lifeboat.core.config_model import (
    Config,
    GeneralConfig,
    RemoteConfig,
    SourceConfig,
)
from lifeboat.core.config_values import (
    CHECK_MODES,
    bool_value,
    bucket_value,
    choice,
    command_value,
    display_name_value,
    duration_value,
    durations_value,
    every_value,
    int_range,
    keep_value,
    number_range,
    path_value,
    prefix_value,
    provider_value,
    rate_value,
    recipients_value,
    schedule_value,
    size_value,
    source_name,
    text_value,
    timezone_value,
    url_value,
    windows_value,
)
from lifeboat.core.fsutil import atomic_write_bytes
from lifeboat.core.private import disk_full
from lifeboat.core.toml_limits import MAX_BYTES, toml_problem, too_big
from lifeboat.foundation.errors import ConfigError, LifeboatError, OperationFailed

if TYPE_CHECKING:
    from lifeboat.core.runs import Run

_HEADER = (
    "# Lifeboat settings. Edit with care, or use `lifeboat source ...` and the tray.\n"
    "# Secrets never go here: credentials and keys live in the OS keyring.\n\n"
)


NO_KEY_YET = "there is no encryption key yet: run `lifeboat key init` first"

_SOURCE_FIELDS: dict[str, Callable[[Any], Any]] = {
    "path": path_value,
    "dest": path_value,
    "display_name": display_name_value,
    "schedule": schedule_value,
    "keep": keep_value,
    "check": choice(*CHECK_MODES),
    "prune": bool_value,
    "stale_after": duration_value,
    "before": command_value,
    "after": command_value,
    "hook_shell": bool_value,
    "hook_timeout": number_range(1, 86400),
    "remote": lambda v: source_name(v),
    "remote_keep": keep_value,
    "incremental": bool_value,
    "rebase_ratio": number_range(0.01, 1.0),
    "rebase_after": duration_value,
    "drill": schedule_value,
    "drill_sql": text_value,
    "encrypt_local": bool_value,
    "continuous": bool_value,
    "continuous_keep": windows_value,
    "continuous_upload_every": every_value,
    "continuous_every": every_value,
}
_REMOTE_FIELDS: dict[str, Callable[[Any], Any]] = {
    "provider": provider_value,
    "bucket": bucket_value,
    "region": text_value,
    "endpoint": url_value,
    "account": text_value,
    "prefix": prefix_value,
    "credentials": choice("keyring", "env"),
    "profile": text_value,
    "insecure": bool_value,
    "max_upload_rate": rate_value,
    "multipart_threshold": size_value,
    "part_size": size_value,
    "upload_concurrency": int_range(1, 32),
    "encrypt": bool_value,
}
_GENERAL_FIELDS: dict[str, Callable[[Any], Any]] = {
    "snapshot_dir": path_value,
    "temp_dir": path_value,
    "compression_level": int_range(1, 19),
    "busy_timeout": number_range(1, 3600),
    "timezone": timezone_value,
    "concurrency": int_range(1, 8),
    "retry_delays": durations_value,
    "notify_url": url_value,
    "metrics_file": path_value,
    "recipients": recipients_value,
}
_REQUIRED_SOURCE_FIELDS = ("path",)


# -- load and save ------------------------------------------------------------------


def load_config(path: Path) -> Config:
    """Read and validate the config file (a missing file is an empty config)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return Config(path=path)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}", "check the file") from None
    known = PARSED.get(path, raw)
    if known is not None:
        return known
    try:
        # universal newlines (line numbers in errors count \r\n as one line)
        text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as exc:
        text = ""
        if len(raw) <= MAX_BYTES:
            raise ConfigError(f"cannot read {path}: {exc}", "check the file") from None
    problem = too_big(len(raw)) or toml_problem(text)
    if problem is None:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"{path}: not valid TOML: {exc}",
                "fix the line it names, or move the file aside to start over",
            ) from None
        except RecursionError:  # the limits above should make this unreachable
            problem = "values are nested too deeply"
    if problem is not None:
        raise ConfigError(
            f"{path}: not a Lifeboat config: {problem}",
            "fix the file, or move it aside to start over",
        )
    config = parse_config(data, path, text)
    PARSED.keep(path, raw, config)
    return config


def parse_config(data: dict[str, Any], path: Path, text: str = "") -> Config:
    def fail(keys: tuple[str, ...], problem: str) -> ConfigError:
        line = locate_key(text, keys)
        where = f"{path}:{line}" if line else str(path)
        return ConfigError(
            f"{where}: {'.'.join(keys)}: {problem}", "fix that value in the config file"
        )

    for key in data:
        if key not in ("general", "sources", "remotes"):
            raise fail(
                (key,), "unknown setting; the file has [general], [sources.NAME] and [remotes.NAME]"
            )
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
    remotes: dict[str, RemoteConfig] = {}
    for name, raw in _table(data.get("remotes", {}), ("remotes",), fail).items():
        keys = ("remotes", name)
        try:
            source_name(name)
        except ValueError as exc:
            raise fail(keys, str(exc)) from None
        values = _validate(_table(raw, keys, fail), _REMOTE_FIELDS, keys, fail)
        for required in ("provider", "bucket"):
            if required not in values:
                raise fail(keys, f"missing '{required}'")
        remote = RemoteConfig(name=name, **values)
        problem = remote_problem(remote, general.recipients)
        if problem:
            raise fail((*keys, problem[0]), problem[1])
        remotes[name] = remote
    for src in sources.values():
        for key, text in source_problems(
            src, sources=sources, remotes=remotes, recipients=general.recipients
        ):
            raise fail(("sources", src.name, key), text)
    return Config(path=path, general=general, sources=sources, remotes=remotes)


def source_problems(
    source: SourceConfig,
    *,
    sources: Mapping[str, SourceConfig],
    remotes: Collection[str],
    recipients: Sequence[str],
    is_new: bool = False,
) -> list[tuple[str, str]]:
    """(key, problem) for each way `source` does not fit the rest of the settings: the
    one place these rules live (loading, the CLI and the Settings dialog all ask here).
    `sources`: the other sources there are; a new source must not reuse their names or
    databases. Each value on its own is checked by validate_value. A database in
    either journal mode may be protected continuously: WAL databases commit by commit,
    rollback-journal ones by frequent differentials (scheduling/journal_watch.py)."""
    problems = []
    if is_new:
        taken = sources.get(source.name)
        if taken is not None:
            problems.append(
                ("name", f"a source named {source.name!r} already exists ({taken.path})")
            )
        for other in sources.values():
            if other.path == source.path and other.name != source.name:
                problems.append(
                    ("path", f"{source.path} is already backed up as source {other.name!r}")
                )
    if source.remote is not None and source.remote not in remotes:
        problems.append(("remote", f"there is no remote named {source.remote!r}"))
    if source.encrypt_local and not recipients:
        problems.append(("encrypt_local", NO_KEY_YET))
    # continuous with encrypt_local: its history is sealed too (core/history/sealing.py)
    return problems


def remote_problem(
    remote: RemoteConfig, recipients: list[str] | None = None
) -> tuple[str, str] | None:
    """(key, problem) for settings that do not fit together, or None."""
    from lifeboat.core.providers import provider

    prov = provider(remote.provider)
    if prov.needs_region and not remote.region:
        return ("region", f'provider {prov.name} needs a region, e.g. region = "eu-west-1"')
    if prov.needs_endpoint and not remote.endpoint:
        return ("endpoint", f"provider {prov.name} needs an endpoint URL")
    if prov.name == "r2" and not (remote.endpoint or remote.account):
        return ("account", "Cloudflare R2 needs your account id (or an endpoint URL)")
    if remote.encrypt and not recipients:
        return ("encrypt", NO_KEY_YET)
    if remote.insecure and not remote.endpoint:
        return ("insecure", "insecure = true is only allowed with your own endpoint URL")
    if remote.part_bytes < 5 * 1024 * 1024:
        return ("part_size", "S3 parts must be at least 5MiB")
    return None


def save_config(config: Config, run: Run) -> None:
    data: dict[str, Any] = {}
    general = _dump(config.general, GeneralConfig())
    if general:
        data["general"] = general
    if config.sources:
        data["sources"] = {name: _dump(src, None) for name, src in config.sources.items()}
    if config.remotes:
        data["remotes"] = {name: _dump(r, None) for name, r in config.remotes.items()}
    text = (_HEADER + tomli_w.dumps(data)).encode()
    try:
        config.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(config.path, text, run)
    except OSError as exc:
        raise settings_not_saved(config.path, exc) from None


def settings_not_saved(path: Path, exc: OSError) -> LifeboatError:
    """The error for a config file that could not be written (the old one still holds)."""
    if disk_full(exc):
        return OperationFailed(
            f"the disk holding {path} is full; the settings were not changed",
            "free some space there, then retry",
        )
    return OperationFailed(
        f"cannot save the settings to {path}: {exc.strerror or exc}; they were not changed",
        "check that its folder is writable",
    )


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


def _table(value: Any, keys: tuple[str, ...], fail: Callable[..., ConfigError]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(keys, "must be a table, e.g. [" + ".".join(keys) + "]")
    return value


def _validate(
    raw: dict[str, Any],
    spec: dict[str, Callable[[Any], Any]],
    keys: tuple[str, ...],
    fail: Callable[..., ConfigError],
) -> dict[str, Any]:
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
    spec = {"source": _SOURCE_FIELDS, "general": _GENERAL_FIELDS, "remote": _REMOTE_FIELDS}[section]
    return spec[key](value)


# -- finding the line of a key, for error messages ----------------------------------

_HEADER_RE = re.compile(r"^\s*\[(?!\[)\s*(?P<inner>[^\]]+?)\s*\]\s*(#.*)?$")
_LONGEST_LINE = 1000
_KEY_RE = re.compile(r"""^\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[A-Za-z0-9_-]+))\s*=""")


def locate_key(text: str, keys: tuple[str, ...]) -> int | None:
    """The 1-based line where `keys` (a table path plus maybe a key) is defined."""
    if not text:
        return None
    table: tuple[str, ...] = ()
    best: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) > _LONGEST_LINE:  # no key of ours is that long; spares the regexes
            continue
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
    if toml_problem(f"[{inner}]"):  # a line inside a string, say: not parsed at any cost
        return ()
    try:
        data: Any = tomllib.loads(f"[{inner}]\n")
    except (tomllib.TOMLDecodeError, RecursionError):
        return ()
    path: list[str] = []
    while isinstance(data, dict) and len(data) == 1:
        ((name, data),) = data.items()
        path.append(name)
    return tuple(path)
