"""`lifeboat timeline NAME`: what of a source can be restored (continuous protection)."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from lifeboat.cli.commands_points import AT_HELP, moment, precise
from lifeboat.cli.output import Output, local_time
from lifeboat.core.history.row_changes import TableChange
from lifeboat.foundation.errors import ConfigError, LifeboatError
from lifeboat.service import Service
from lifeboat.service.history_remote import remote_history_line
from lifeboat.service.history_status import TimelineEntry

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    timeline = commands.add_parser(
        "timeline",
        parents=[common],
        help="what of a database can be restored: snapshots, captured commits, gaps",
    )
    timeline.add_argument("name", help="the source")
    timeline.add_argument(
        "--commits",
        action="store_true",
        help="list the commits around --around (default now) with the rows each changed",
    )
    timeline.add_argument("--around", metavar="TIME", help="with --commits: " + AT_HELP)
    timeline.add_argument(
        "--count", type=int, default=10, help="with --commits: how many before and after"
    )
    timeline.set_defaults(handler=cmd_timeline)


def cmd_timeline(args: argparse.Namespace, service: Service, out: Output) -> int:
    if args.around is not None and not args.commits:
        raise ConfigError("--around goes with --commits", "add --commits")
    if args.commits:
        return _commits(args, service, out)
    timeline = service.timeline(args.name)
    if out.json_mode:
        out.json(timeline.to_json())
        return 0
    state = "on" if timeline.continuous else "off"
    out.line(f"{timeline.source}: continuous protection {state} (keeps {timeline.keep})")
    if not timeline.entries:
        out.line(f"nothing to restore yet; take a snapshot with: lifeboat backup {args.name}")
        return 0
    out.table(["FROM", "TO", "WHAT"], [_row(e) for e in timeline.entries])
    last = max((e.end for e in timeline.entries if e.kind == "commits" and e.end), default=None)
    held = remote_history_line(timeline.remote, timeline.remote_until, last, datetime.now(UTC))
    if held:
        out.line(held)
    return 0


def _row(entry: TimelineEntry) -> list[str]:
    start, end = local_time(entry.start), local_time(entry.end) if entry.end else "-"
    if entry.kind == "snapshot":
        return [start, "-", f"snapshot {entry.snapshot} ({entry.reason})"]
    if entry.kind == "commits":
        count = f"{entry.commits} commit{'' if entry.commits == 1 else 's'}"
        return [start, end, f"every commit restorable: {count} (base {entry.snapshot})"]
    if entry.kind == "gap":
        return [start, end, f"GAP: nothing restorable in between ({entry.reason})"]
    return [start, "-", f"merged catch-up: {entry.reason}"]


def _commits(args: argparse.Namespace, service: Service, out: Output) -> int:
    """The commits around a moment, each with the rows it added, changed and deleted."""
    at = moment(args.around) if args.around is not None else datetime.now(UTC)
    if args.count <= 0:
        raise ConfigError("the number of commits must be more than 0", "use e.g. --count 10")
    listing = service.commits_near(args.name, at, before=args.count, after=args.count)
    stamps = [c.time_us for c in listing]
    times = [_EPOCH + t * timedelta(microseconds=1) for t in stamps]
    try:
        counted: dict[int, list[TableChange]] | str = service.commits_changes(args.name, stamps)
    except LifeboatError as exc:  # the listing still helps: say why the counts are missing
        counted = f"unknown: {exc}"
    listed = []
    for when, time_us in zip(times, stamps, strict=True):
        changes: list[dict[str, object]] | str = (
            counted if isinstance(counted, str) else [asdict(c) for c in counted.get(time_us, [])]
        )
        listed.append((when, time_us, changes))
    if out.json_mode:
        out.json([{"time": w.isoformat(), "time_us": t, "changes": c} for w, t, c in listed])
        return 0
    if not listed:
        out.line(f"no commits captured for {args.name}; see `lifeboat timeline {args.name}`")
        return 0
    out.table(["COMMIT", "ROWS CHANGED"], [[precise(w), _said(c)] for w, _, c in listed])
    return 0


def _said(changes: list[dict[str, object]] | str) -> str:
    if isinstance(changes, str):
        return changes
    if not changes:
        return "no rows (schema, indexes or free pages only)"
    return "; ".join(
        f"{c['table']}: +{c['added']} ~{c['changed']} -{c['deleted']}" for c in changes
    )
