"""`lifeboat history NAME --table T --key K`: every version of one row across the
source's backup points (snapshots and the commits of its continuous history)."""

from __future__ import annotations

import argparse
from typing import Any

from lifeboat.cli.commands_points import moment
from lifeboat.cli.output import Output
from lifeboat.core.history.row_lookup import KeySpec
from lifeboat.core.history.row_versions import (
    PointKind,
    RowChange,
    RowHistory,
    RowVersion,
    shown,
)
from lifeboat.foundation.errors import ConfigError
from lifeboat.service import Service

_HINT = "see `lifeboat history --help`"


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    history = commands.add_parser(
        "history",
        parents=[common],
        help="every version of one row across the backups: when it was created, changed, deleted",
        description="Lists, oldest first, each backup point where the row differs from "
        "the point before: snapshots and the commits of the continuous history.",
    )
    history.add_argument("name", help="the source")
    history.add_argument("--table", required=True, help="the table")
    history.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="K",
        help="the row's key: its rowid or INTEGER PRIMARY KEY (--key 42), its PRIMARY "
        "KEY value, or one --key per column of a composite key (--key a=1 --key b=x)",
    )
    history.add_argument(
        "--where",
        metavar="SQL",
        help="instead of --key: the rows matching this condition at the newest point "
        "(or at --at, for rows deleted since), at most 20, each followed across the points",
    )
    history.add_argument("--at", metavar="WHEN", help="with --where: the moment to ask at")
    history.set_defaults(handler=cmd_history)


def key_spec(given: list[str]) -> KeySpec:
    """--key values: `value` (the key's only column, or the rowid) or `column=value`."""
    if not given:
        raise ConfigError("give the row's key: --key 42, or --key column=value", _HINT)
    values: list[tuple[str | None, str]] = []
    for text in given:
        column, sep, value = text.partition("=")
        if not sep:
            values.append((None, text))
        elif not column.strip():
            raise ConfigError(f"--key {text}: the column name is missing", _HINT)
        else:
            values.append((column.strip(), value))
    if len(values) > 1 and any(column is None for column, _ in values):
        raise ConfigError("with several --key, name each column: --key a=1 --key b=x", _HINT)
    return KeySpec(values=tuple(values))


def cmd_history(args: argparse.Namespace, service: Service, out: Output) -> int:
    if args.where is None:
        if args.at is not None:
            raise ConfigError("--at goes with --where", "add --where, or leave out --at")
        history = service.row_history(args.name, args.table, key_spec(args.key))
        if out.json_mode:
            out.json(_history_json(history))
        else:
            _print_history(args.name, out, history)
        return 0
    if args.key:
        raise ConfigError("give --key or --where, not both", _HINT)
    at = moment(args.at) if args.at is not None else None
    keys = service.row_keys(args.name, args.table, args.where, at)
    found = [(key, service.row_history(args.name, args.table, key)) for key in keys]
    if out.json_mode:
        out.json([{"key": _key_words(key), **_history_json(h)} for key, h in found])
        return 0
    if not found:
        out.line("no row matches that --where" + (f" at {args.at}" if args.at else ""))
    for key, history in found:
        out.line(f"row {_key_words(key)}:")
        _print_history(args.name, out, history)
    return 0


def _key_words(key: KeySpec) -> str:
    if key.rowid is not None:
        return f"rowid {key.rowid}"
    return ", ".join(f"{column}={value}" for column, value in key.values)


def _history_json(history: RowHistory) -> dict[str, object]:
    return {
        "points": history.points,
        "looked_up": history.lookups,
        "versions": [version_json(v) for v in history.versions],
        "unreadable": [{"snapshot": i, "why": why} for i, why in history.unreadable],
    }


def _print_history(name: str, out: Output, history: RowHistory) -> None:
    if history.versions:
        out.table(["WHEN", "CHANGE", "POINT", "WHAT"], [_row(v) for v in history.versions])
        out.line(
            "to look at or get back a version: lifeboat restore ID --to FILE (a snapshot), "
            f'or lifeboat restore {name} --at "WHEN" --to FILE (a commit)'
        )
    else:
        out.line(f"none of the {history.points} backup points of {name} holds that row")
    remotes = sorted({v.point.remote for v in history.versions if v.point.remote})
    if remotes:
        out.line(
            "points marked (on REMOTE) were read from that remote: this computer does not "
            f"keep them ({', '.join(remotes)})"
        )
    for snapshot_id, why in history.unreadable:
        out.line(f"not read: snapshot {snapshot_id}: {why} (its versions may be missing)")


def _when(version: RowVersion) -> str:
    return version.point.time.astimezone().strftime("%Y-%m-%d %H:%M:%S.%f")


def _row(version: RowVersion) -> list[str]:
    point = version.point
    where = "commit" if point.kind == PointKind.COMMIT else f"{point.kind} {point.snapshot_id}"
    if point.remote is not None:
        where += f" (on {point.remote})"
    return [_when(version), str(version.change), where, _what(version)]


def _what(version: RowVersion) -> str:
    if version.change == RowChange.DELETED:
        return "the table is gone" if version.table_gone else ""
    if version.change == RowChange.CHANGED:
        return "; ".join(f"{c.column}: {shown(c.old)} -> {shown(c.new)}" for c in version.columns)
    values = version.values or {}
    return ", ".join(f"{column}={shown(value, 24)}" for column, value in values.items())


def _value_json(value: object) -> object:
    return {"blob_hex": value.hex()} if isinstance(value, bytes) else value


def version_json(version: RowVersion) -> dict[str, object]:
    point = version.point
    values = version.values
    return {
        "change": str(version.change),
        "time": point.time.isoformat(),
        "time_us": point.time_us,
        "point": str(point.kind),
        "snapshot": point.snapshot_id,
        "remote": point.remote,
        "values": None if values is None else {k: _value_json(v) for k, v in values.items()},
        "columns": [
            {"column": c.column, "old": _value_json(c.old), "new": _value_json(c.new)}
            for c in version.columns
        ],
        "table_gone": version.table_gone,
    }
