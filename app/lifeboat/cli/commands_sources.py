"""`lifeboat source add|list|remove`."""

from __future__ import annotations

import argparse
from typing import Any

from lifeboat.cli.output import Output
from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.config_model import SourceConfig
from lifeboat.foundation.errors import ConfigError
from lifeboat.service import Service


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    source = commands.add_parser("source", help="add, list or remove databases to back up")
    actions = source.add_subparsers(dest="action", metavar="ACTION", parser_class=type(source))
    source.set_defaults(handler=lambda a, s, o: _usage(source))
    _add_parser(actions, common)
    _set_parser(actions, common)
    lst = actions.add_parser("list", parents=[common], help="list sources")
    lst.set_defaults(handler=cmd_list)
    _remove_parser(actions, common)


def _add_parser(actions: Any, common: argparse.ArgumentParser) -> None:
    add = actions.add_parser("add", parents=[common], help="start backing up a database")
    add.add_argument("path", help="the SQLite database file")
    add.add_argument("--name", help="short name (default: from the file name)")
    add.add_argument("--dest", help="folder for its snapshots (default: Lifeboat's)")
    add.add_argument("--schedule", help="e.g. 'every 15m', 'daily 03:00', 'manual'")
    add.add_argument("--keep", help="e.g. 'last=7,daily=7,weekly=4,monthly=12'")
    add.add_argument(
        "--check",
        choices=["quick", "full"],
        help="integrity check of each snapshot (default quick)",
    )
    add.add_argument("--remote", help="also copy snapshots to this remote")
    add.add_argument("--remote-keep", help="retention on the remote (default: --keep)")
    add.add_argument(
        "--encrypt-local",
        action="store_true",
        default=None,
        help="keep its snapshots on this machine encrypted too (needs a key: lifeboat key init)",
    )
    _continuous_switches(add)
    add.set_defaults(handler=cmd_add)


def _continuous_switches(parser: argparse.ArgumentParser) -> None:
    """--continuous / --no-continuous and --continuous-keep (add and set)."""
    switch = parser.add_mutually_exclusive_group()
    switch.add_argument(
        "--continuous",
        dest="continuous",
        action="store_true",
        default=None,
        help="while the tray or `lifeboat run` runs: capture every commit (WAL databases) "
        "or a differential soon after each change (rollback-journal databases)",
    )
    switch.add_argument(
        "--no-continuous",
        dest="continuous",
        action="store_false",
        help="scheduled snapshots only (the default; its history is kept)",
    )
    parser.add_argument(
        "--continuous-keep",
        help="how much of that history stays, e.g. '24h all, 7d hourly, 30d daily'",
    )
    parser.add_argument(
        "--continuous-every",
        help="rollback-journal databases: a differential at most this often when it "
        "changed, e.g. '1m' (the default) or '30s'",
    )


def _set_parser(actions: Any, common: argparse.ArgumentParser) -> None:
    change = actions.add_parser("set", parents=[common], help="change a source's settings")
    change.add_argument("name")
    change.add_argument("--dest", help="folder for its snapshots")
    change.add_argument(
        "--move",
        action="store_true",
        help="with --dest: move the snapshots it has to the new folder (else they stay)",
    )
    change.add_argument("--schedule", help="e.g. 'every 15m', 'daily 03:00', 'manual'")
    change.add_argument("--keep", help="e.g. 'last=7,daily=7,weekly=4,monthly=12'")
    change.add_argument("--check", choices=["quick", "full"])
    change.add_argument("--remote", help="copy snapshots to this remote")
    change.add_argument("--remote-keep", help="retention on the remote (default: --keep)")
    change.add_argument(
        "--drill",
        help="when to run restore drills, e.g. 'weekly sun 04:00' (the default) or 'manual'",
    )
    change.add_argument(
        "--drill-sql",
        help="a query that must return a true value on a "
        "restored copy, e.g. 'select count(*) > 0 from notes'",
    )
    _set_switches(change)
    _continuous_switches(change)
    change.add_argument(
        "--continuous-upload-every",
        metavar="DURATION",
        help="how often new history goes to its remote, e.g. '10s' (the default) or '1m'",
    )
    change.add_argument("--yes", action="store_true", help="do not ask")
    change.set_defaults(handler=cmd_set)


def _set_switches(change: argparse.ArgumentParser) -> None:
    """The on/off pairs of `source set` (--prune/--no-prune, ...): unset by default."""
    prune = change.add_mutually_exclusive_group()
    prune.add_argument(
        "--prune",
        dest="prune",
        action="store_true",
        default=None,
        help="prune after each backup (the default)",
    )
    prune.add_argument(
        "--no-prune", dest="prune", action="store_false", help="never prune automatically"
    )
    incremental = change.add_mutually_exclusive_group()
    incremental.add_argument(
        "--incremental",
        dest="incremental",
        action="store_true",
        default=None,
        help="store changed pages against a full base (the default)",
    )
    incremental.add_argument(
        "--no-incremental",
        dest="incremental",
        action="store_false",
        help="store every snapshot whole",
    )
    local = change.add_mutually_exclusive_group()
    local.add_argument(
        "--encrypt-local",
        dest="encrypt_local",
        action="store_true",
        default=None,
        help="keep new snapshots on this machine encrypted with "
        "age (needs a key: lifeboat key init)",
    )
    local.add_argument(
        "--no-encrypt-local",
        dest="encrypt_local",
        action="store_false",
        help="keep new snapshots here unencrypted (asks to confirm)",
    )


def _remove_parser(actions: Any, common: argparse.ArgumentParser) -> None:
    rm = actions.add_parser("remove", parents=[common], help="stop backing up a database")
    rm.add_argument("name")
    rm.add_argument(
        "--delete-snapshots",
        action="store_true",
        help="also delete its snapshots (kept by default)",
    )
    rm.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    rm.set_defaults(handler=cmd_remove)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def source_json(service: Service, source: SourceConfig) -> dict[str, object]:
    schedule = source.backup_schedule
    return {
        "name": source.name,
        "path": str(source.path),
        "dest": str(service.snapshot_folder(source.name)),
        "schedule": source.schedule,
        "schedule_description": schedule.describe(),
        "keep": source.keep,
        "check": source.check,
        "prune": source.prune,
        "remote": source.remote,
        "remote_keep": source.remote_keep,
        "incremental": source.incremental,
        "encrypt_local": source.encrypt_local,
        "continuous": source.continuous,
        "continuous_keep": source.continuous_keep,
        "continuous_upload_every": source.continuous_upload_every,
        "continuous_every": source.continuous_every,
    }


def cmd_add(args: argparse.Namespace, service: Service, out: Output) -> int:
    source = service.add_source(
        args.path,
        name=args.name,
        dest=args.dest,
        schedule=args.schedule,
        keep=args.keep,
        check=args.check,
        remote=args.remote,
        remote_keep=args.remote_keep,
        encrypt_local=args.encrypt_local,
        continuous=args.continuous,
        continuous_keep=args.continuous_keep,
        continuous_every=args.continuous_every,
    )
    data = source_json(service, source)
    out.result(
        data,
        [
            f"added source {source.name}: {source.path}",
            f"  schedule: {data['schedule_description']}",
            *_continuous_lines(service, source),
            f"  snapshots go to {data['dest']}",
            f"take the first one now with: lifeboat backup {source.name}",
        ],
    )
    return 0


def cmd_set(args: argparse.Namespace, service: Service, out: Output) -> int:
    if args.encrypt_local is False and service.source(args.name).encrypt_local and not args.yes:
        question = (
            f"Keep new snapshots of {args.name} unencrypted on this machine? "
            "Whoever can read its disk can then read them."
        )
        if not out.confirmed(
            question,
            "its snapshots are still kept encrypted",
            "add --yes to switch local encryption off",
        ):
            return 2
    if args.move and args.dest is None:
        raise ConfigError("--move needs --dest", "give the new folder with --dest DIR")
    # Every other setting is checked and saved first: a move is not undone, so it runs
    # only once the rest of the command is known to be good.
    kept = [s for s in service.snapshots(args.name) if s.local] if args.dest else []
    source = service.update_source(
        args.name,
        dest=None if args.move else args.dest,
        schedule=args.schedule,
        keep=args.keep,
        check=args.check,
        prune=args.prune,
        remote=args.remote,
        remote_keep=args.remote_keep,
        incremental=args.incremental,
        drill=args.drill,
        drill_sql=args.drill_sql,
        encrypt_local=args.encrypt_local,
        continuous=args.continuous,
        continuous_keep=args.continuous_keep,
        continuous_upload_every=args.continuous_upload_every,
        continuous_every=args.continuous_every,
    )
    if args.dest is not None:
        _move_or_tell(args, service, out, kept)
        source = service.source(args.name)
    data = source_json(service, source)
    out.result(
        data,
        [
            f"updated source {source.name}",
            *_continuous_lines(service, source),
            f"  schedule: {data['schedule_description']}",
            f"  keep: {source.keep}" + ("" if source.prune else " (no auto prune)"),
            f"  snapshots go to {data['dest']}"
            + (" (kept encrypted)" if source.encrypt_local else ""),
        ],
    )
    return 0


def _continuous_lines(service: Service, source: SourceConfig) -> list[str]:
    if not source.continuous:
        return []
    return [
        f"  continuous protection: on, while the tray or `lifeboat run` runs: "
        f"{service.continuous_kind(source.name)}",
        *(
            [f"  its history goes to remote {source.remote} every {source.continuous_upload_every}"]
            if source.remote
            else []
        ),
    ]


def _move_or_tell(
    args: argparse.Namespace, service: Service, out: Output, kept: list[SnapshotRecord]
) -> None:
    """With --dest --move: move the snapshots. With --dest alone: say what happens to
    the snapshots it has (`kept`: they stay where they are, still listed)."""
    if not args.move:
        if kept:
            out.line(
                f"the {len(kept)} snapshot(s) it has stay in {kept[0].folder}, still listed "
                "and restorable; add --move to move them to the new folder"
            )
        return
    report = service.move_snapshots(args.name, args.dest)
    lines = [f"moved {len(report.moved)} snapshot(s) of {args.name} to {report.new_folder}"]
    if report.history_segments:
        lines.append(f"  with its continuous history ({report.history_segments} segment(s))")
    if report.damaged:
        lines.append(
            f"  already damaged before the move (moved as they were): {', '.join(report.damaged)}"
        )
    lines += [f"  left in the old folder: {item}" for item in report.left]
    for line in lines:
        out.line(line)


def cmd_list(args: argparse.Namespace, service: Service, out: Output) -> int:
    sources = [source_json(service, s) for s in service.sources()]
    if out.json_mode:
        out.json(sources)
    elif not sources:
        out.line("no sources yet; add one with: lifeboat source add PATH")
    else:
        out.table(
            ["NAME", "DATABASE", "SCHEDULE", "KEEP", "SNAPSHOTS IN"],
            [
                [str(s["name"]), str(s["path"]), str(s["schedule"]), str(s["keep"]), str(s["dest"])]
                for s in sources
            ],
        )
    return 0


def cmd_remove(args: argparse.Namespace, service: Service, out: Output) -> int:
    service.source(args.name)
    if args.delete_snapshots and not args.yes:
        count = len(service.snapshots(args.name))
        if not out.confirmed(
            f"delete source {args.name} and its {count} snapshot(s)?",
            "nothing was deleted",
            "add --yes to delete without asking",
        ):
            return 2
    deleted = service.remove_source(args.name, delete_snapshots=args.delete_snapshots)
    kept = "" if args.delete_snapshots else "; its snapshots are kept"
    out.result(
        {"removed": args.name, "deleted_snapshots": deleted},
        f"removed source {args.name}{kept}"
        + (f"; deleted {len(deleted)} snapshot(s)" if deleted else ""),
    )
    return 0
