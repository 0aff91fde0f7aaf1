"""`lifeboat timeline NAME`: what of a source can be restored (continuous protection)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from lifeboat.cli.output import Output, local_time
from lifeboat.service import Service
from lifeboat.service.history_remote import remote_history_line
from lifeboat.service.history_status import TimelineEntry


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    timeline = commands.add_parser(
        "timeline",
        parents=[common],
        help="what of a database can be restored: snapshots, captured commits, gaps",
    )
    timeline.add_argument("name", help="the source")
    timeline.set_defaults(handler=cmd_timeline)


def cmd_timeline(args: argparse.Namespace, service: Service, out: Output) -> int:
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
