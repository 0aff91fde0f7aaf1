"""`lifeboat diff` (what a restore would change) and `lifeboat drill` (prove restores)."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from lifeboat.cli.commands_points import AT_HELP, chosen, preview_point
from lifeboat.cli.output import Output, local_time
from lifeboat.core.dbdiff_records import DatabaseDiff
from lifeboat.core.dbdiff_summary import summarize
from lifeboat.core.results import DrillResult
from lifeboat.foundation.errors import ConfigError
from lifeboat.service import Service


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    diff = commands.add_parser(
        "diff",
        parents=[common],
        help="show what restoring a snapshot would change",
        description="Compare a snapshot with its source's live database (default) or with "
        "another snapshot, table by table: rows a restore would bring back, remove and "
        "change, and schema differences. Reads only.",
    )
    diff.add_argument("id", help="snapshot id (or a unique prefix); with --at, the source")
    diff.add_argument("--at", metavar="TIME", help=AT_HELP)
    against = diff.add_mutually_exclusive_group()
    against.add_argument("--against", metavar="ID", help="compare with this snapshot")
    against.add_argument(
        "--live", action="store_true", help="compare with the live database (the default)"
    )
    diff.add_argument(
        "--budget",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="time allowed for row comparison; the rest gets counts only (default 30)",
    )
    diff.set_defaults(handler=cmd_diff)

    drill = commands.add_parser(
        "drill",
        parents=[common],
        help="prove a source's backups restore",
        description="Restore the newest snapshot and one random older one (their remote "
        "copies where there are some) to a temporary folder, check integrity, row counts "
        "and drill_sql, then delete them. Exit 1 if a drill fails.",
    )
    which = drill.add_mutually_exclusive_group(required=True)
    which.add_argument("name", nargs="?", help="the source to drill")
    which.add_argument("--all", action="store_true", help="drill every source")
    drill.set_defaults(handler=cmd_drill)


def cmd_diff(args: argparse.Namespace, service: Service, out: Output) -> int:
    if args.budget <= 0:
        raise ConfigError("--budget must be more than 0 seconds", "e.g. --budget 30")
    if args.at is not None:
        choice, diff = preview_point(args, service, out)
        lines = [f"comparing {chosen(choice)} with now", *_diff_lines(diff, None)]
        out.result({"point": choice.to_json(), **diff.to_json()}, lines)
        return 0
    with out.progress_bar() as bar:
        diff = service.preview(args.id, against=args.against, budget=args.budget, progress=bar)
    out.result(diff.to_json(), _diff_lines(diff, args.against))
    return 0


def _diff_lines(diff: DatabaseDiff, against: str | None) -> list[str]:
    other = f"snapshot {against}" if against else "now"
    lines = [
        f"{'table':<24} {'snapshot':>10} {other[:10]:>10} {'back':>8} {'removed':>8} {'changed':>8}"
    ]
    for t in diff.tables:

        def n(value: int | None) -> str:
            return "?" if value is None else f"{value:,}"

        mark = " (partial)" if t.partial else ""
        if t.matched_by == "counts only" or t.partial or t.brought_back is None:
            figures = f"{'-':>8} {'-':>8} {'-':>8}"
        else:
            figures = f"{n(t.brought_back):>8} {n(t.removed):>8} {n(t.changed):>8}"
        note = f"  {t.note}" if t.note else ""
        lines.append(
            f"{t.name[:24]:<24} {n(t.rows_snapshot):>10} {n(t.rows_now):>10} {figures}{mark}{note}"
        )
    schema = diff.schema
    for item in schema.added:
        lines.append(f"schema: {item} exists {other} only")
    for item in schema.removed:
        lines.append(f"schema: {item} exists in the snapshot only")
    for table, cols in schema.columns_added.items():
        lines.append(f"schema: {table} has new column(s) {', '.join(cols)}")
    for table, cols in schema.columns_removed.items():
        lines.append(f"schema: {table} lost column(s) {', '.join(cols)}")
    lines.append(summarize(diff))
    return lines


def cmd_drill(args: argparse.Namespace, service: Service, out: Output) -> int:
    names = [s.name for s in service.sources()] if args.all else [args.name]
    if not names:
        raise ConfigError("no sources configured", "add one: lifeboat source add PATH")
    results: list[DrillResult] = []
    for name in names:
        with out.progress_bar() as bar:
            results.append(service.drill(name, progress=bar))
    lines = []
    for result in results:
        lines.append(f"{result.source}: drill {'passed' if result.passed else 'FAILED'}")
        for check in result.checks:
            what = "ok" if check.ok else f"FAILED: {check.problem}"
            taken = local_time(_moment(check.created_at))
            what_was = _drilled(check.snapshot_id, taken, check.point)
            lines.append(f"  {what_was} ({check.copy} copy, {check.seconds:.1f} s): {what}")
    out.result([r.to_json() for r in results], lines)
    return 0 if all(r.passed for r in results) else 1


def _drilled(snapshot_id: str, taken: str, point: dict[str, object] | None) -> str:
    """What a drill check restored: a snapshot, or the moment drawn and what a restore
    at it gives (a commit of the history, or the last snapshot before it)."""
    if not point:
        return f"snapshot {snapshot_id} of {taken}"
    asked = point.get("asked")
    drawn = f"moment {local_time(_moment(asked))}" if isinstance(asked, str) else "a moment"
    if point.get("snapshot_only"):
        return f"{drawn}: snapshot {snapshot_id} of {taken}"
    return f"point of {taken} (commit {point.get('commit_seq')} on base {snapshot_id}; {drawn})"


def _moment(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))
