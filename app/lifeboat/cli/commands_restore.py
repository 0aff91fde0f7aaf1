"""`lifeboat restore|prune|pin|unpin`."""

from __future__ import annotations

import argparse
from typing import Any

from lifeboat.cli.commands_points import AT_HELP, cmd_restore_point, restored_lines
from lifeboat.cli.output import Output, local_time
from lifeboat.core.dbdiff_summary import summarize
from lifeboat.core.history.windows import windows_in_words
from lifeboat.core.results import PrunePlan
from lifeboat.foundation.errors import LifeboatError
from lifeboat.foundation.units import format_bytes
from lifeboat.service import Service


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    restore = commands.add_parser(
        "restore",
        parents=[common],
        help="restore a snapshot in place or to a new file",
        description="Restore a snapshot. In place (no --to), the current database is first "
        "saved as a protected snapshot, then replaced in one transaction.",
    )
    restore.add_argument("id", help="snapshot id (or a unique prefix); with --at, the source")
    restore.add_argument("--at", metavar="TIME", help=AT_HELP)
    restore.add_argument("--to", metavar="PATH", help="write a new database file there")
    restore.add_argument(
        "--yes", action="store_true", help="do not ask; with --to, replace an existing file"
    )
    restore.set_defaults(handler=cmd_restore)

    export = commands.add_parser(
        "export",
        parents=[common],
        help="write any snapshot as a standalone database",
        description="Write a snapshot, full or differential, as a standalone SQLite file "
        "(verified first; a differential is rebuilt on its base).",
    )
    export.add_argument("id", help="snapshot id (or a unique prefix)")
    export.add_argument("--to", metavar="PATH", required=True, help="the file to write")
    export.add_argument("--yes", action="store_true", help="replace an existing file")
    export.set_defaults(handler=cmd_export)

    prune = commands.add_parser(
        "prune", parents=[common], help="delete snapshots the retention policy no longer keeps"
    )
    which = prune.add_mutually_exclusive_group(required=True)
    which.add_argument("name", nargs="?", help="the source to prune")
    which.add_argument("--all", action="store_true", help="prune every source")
    prune.add_argument("--dry-run", action="store_true", help="only show what would go")
    prune.set_defaults(handler=cmd_prune)

    pin = commands.add_parser("pin", parents=[common], help="protect a snapshot: never pruned")
    pin.add_argument("id")
    pin.add_argument("--reason", help="why it matters, e.g. pre-migration")
    pin.set_defaults(handler=cmd_pin, protect=True)
    unpin = commands.add_parser(
        "unpin", parents=[common], help="let retention prune a snapshot again"
    )
    unpin.add_argument("id")
    unpin.set_defaults(handler=cmd_pin, protect=False, reason=None)

    delete = commands.add_parser(
        "delete",
        parents=[common],
        help="delete a snapshot kept here (e.g. a damaged one)",
        description="Delete one snapshot's files here, as you decide (retention never "
        "deletes damaged snapshots: this does). Its remote copies stay. Protected "
        "snapshots must be unpinned first.",
    )
    delete.add_argument("id", help="snapshot id (or a unique prefix)")
    delete.add_argument("--yes", action="store_true", help="do not ask")
    delete.set_defaults(handler=cmd_delete)


def cmd_restore(args: argparse.Namespace, service: Service, out: Output) -> int:
    if args.at is not None:
        return cmd_restore_point(args, service, out)
    record = service.snapshot(args.id)
    target = service.restore_target(record.id, args.to)
    m = record.manifest
    if args.to is None and not args.yes:
        out.line(_preview_paragraph(service, record.id))
        question = (
            f"Replace {target} with snapshot {m.id} of {local_time(m.created_at)}? "
            "The current database is saved first as a protected snapshot."
        )
        if not out.confirmed(
            question,
            f"in-place restore replaces {target}; nothing changed",
            "answer y on a terminal, or add --yes",
        ):
            return 2
    with out.progress_bar() as bar:
        result = service.restore(record.id, to=args.to, overwrite=args.yes, progress=bar)
    headline = (
        f"restored snapshot {m.id} ({local_time(m.created_at)}) to {result.target} "
        f"in {result.seconds:.1f} s"
    )
    out.result(result.to_json(), restored_lines(headline, result))
    return 0


def cmd_export(args: argparse.Namespace, service: Service, out: Output) -> int:
    record = service.snapshot(args.id)
    with out.progress_bar() as bar:
        result = service.export_snapshot(record.id, args.to, replace=args.yes, progress=bar)
    m = record.manifest
    what = f"differential of {m.base}, rebuilt" if m.kind == "diff" else "full"
    out.result(
        result.to_json(),
        f"wrote snapshot {m.id} ({what}) to {result.target} in {result.seconds:.1f} s",
    )
    return 0


def cmd_prune(args: argparse.Namespace, service: Service, out: Output) -> int:
    names = [s.name for s in service.sources()] if args.all else [args.name]
    plans = [service.prune(name, dry_run=args.dry_run) for name in names]
    if out.json_mode:
        data = [p.to_json() for p in plans]
        out.json(data if args.all else data[0])
        return 0
    for plan in plans:
        _print_plan(out, plan, args.dry_run)
        src = service.config().source(plan.source)
        if src.continuous:
            out.line(f"{plan.source}: its history keeps {windows_in_words(src.history_policy)}")
    return 0


def _print_plan(out: Output, plan: PrunePlan, dry_run: bool) -> None:
    verb = "would delete" if dry_run else "deleted"
    out.line(f"{plan.source}: policy {plan.policy.spec}")
    rows = [
        [
            d.snapshot.id,
            local_time(d.snapshot.created_at),
            "keep" if d.keep else ("forget" if dry_run else "deleted"),
            d.reason,
        ]
        for d in plan.decisions
    ]
    if rows:
        out.table(["ID", "CREATED", "ACTION", "WHY"], rows)
    out.line(
        f"{plan.source}: keeps {len(plan.kept)}, {verb} {len(plan.forgotten)}, "
        f"frees {format_bytes(plan.freed)}"
    )


def cmd_delete(args: argparse.Namespace, service: Service, out: Output) -> int:
    record = service.snapshot(args.id)
    m = record.manifest
    dependents = service.dependents(record.id)
    if not args.yes:
        state = {"ok": "", "corrupt": " (damaged)", "missing": " (its file is missing)"}.get(
            record.status, ""
        )
        out.line(f"snapshot {m.id} of {m.source}, {local_time(m.created_at)}, {m.kind}{state}")
        if dependents:
            out.line(
                f"  {len(dependents)} differential(s) are based on it and cannot be "
                "restored without it: " + ", ".join(d.id for d in dependents)
            )
        if record.copies:
            out.line("  its copies on " + ", ".join(c.remote for c in record.copies) + " stay")
        if not out.confirmed(
            f"Delete snapshot {m.id} here for good?",
            "nothing was deleted",
            "answer y on a terminal, or add --yes",
        ):
            return 2
    service.delete_snapshot(record.id)
    out.result(
        {"deleted": record.id, "dependents": [d.id for d in dependents]},
        f"deleted snapshot {m.id} of {m.source}",
    )
    return 0


def cmd_pin(args: argparse.Namespace, service: Service, out: Output) -> int:
    record = service.set_protected(args.id, args.protect, args.reason)
    state = "protected: never pruned" if args.protect else "no longer protected"
    out.result(record.to_json(), f"snapshot {record.id} is {state}")
    return 0


def _preview_paragraph(service: Service, ref: str) -> str:
    """What the restore would change, in one paragraph; a preview that cannot be made
    (the live file unreadable, say) must not stand in the way of the restore."""
    try:
        return summarize(service.preview(ref, budget=10.0))
    except LifeboatError as exc:
        return f"(No preview of the changes: {exc.message}.)"
