"""`lifeboat restore NAME --at T|--from ID --table T`: bring back only what was lost
(rows deleted or changed since), merged into the live database in one transaction after
a protected safety snapshot. The options are registered with `restore`."""

from __future__ import annotations

import argparse
from typing import Any

from lifeboat.cli.commands_points import moment
from lifeboat.cli.output import Output
from lifeboat.core.rowmerge_records import MergeOutcome, MergePlan, MergeRequest, RowSample
from lifeboat.foundation.errors import ConfigError
from lifeboat.service import Service


def add_arguments(restore: argparse.ArgumentParser) -> None:
    merge = restore.add_argument_group(
        "bring back only rows (with --table; ID is then the source's name)"
    )
    merge.add_argument("--table", metavar="T", help="merge this table's past rows into live")
    merge.add_argument("--from", dest="from_id", metavar="ID", help="the rows of this snapshot")
    merge.add_argument("--where", metavar="SQL", help="only the past rows matching this")
    which = merge.add_mutually_exclusive_group()
    which.add_argument(
        "--deleted-only", action="store_true", help="only rows deleted since come back"
    )
    which.add_argument(
        "--changed-only", action="store_true", help="only rows changed since, put back"
    )
    merge.add_argument(
        "--prefer",
        choices=("live", "past"),
        default="live",
        help="rows changed since: keep them as they are (live, the default) or put back "
        "their past values (past)",
    )
    merge.add_argument("--into", metavar="T", help="the live table, if it was renamed since")
    merge.add_argument(
        "--drop-removed-columns",
        action="store_true",
        help="bring rows back without the values of columns removed since",
    )
    merge.add_argument("--show-rows", type=int, default=0, metavar="N", help="show N rows")
    merge.add_argument("--dry-run", action="store_true", help="only show what would happen")


def cmd_merge(args: argparse.Namespace, service: Service, out: Output) -> int:
    if (args.at is None) == (args.from_id is None):
        raise ConfigError("--table needs where the rows come from", "add --at TIME or --from ID")
    if args.to is not None:
        raise ConfigError("--table merges into the live database", "leave out --to")
    if args.show_rows < 0:
        raise ConfigError("--show-rows takes a count", "e.g. --show-rows 10")
    mode = "deleted" if args.deleted_only else "changed" if args.changed_only else "both"
    request = MergeRequest(
        table=args.table,
        where=args.where,
        mode=mode,
        prefer_past=args.prefer == "past",
        into=args.into,
        drop_removed_columns=args.drop_removed_columns,
        show_rows=args.show_rows,
    )
    at = moment(args.at) if args.at is not None else None
    if args.yes and not args.dry_run:  # no question: the plan is computed once, in the merge
        with out.progress_bar() as bar:
            outcome = service.merge_restore(
                args.id, request, at=at, snapshot=args.from_id, progress=bar
            )
        text = [*preview_lines(outcome.plan, outcome.past), *merged_lines(outcome)]
        out.result(outcome.to_json(), text)
        return 0
    with (
        out.progress_bar() as bar,
        service.merge_session(
            args.id, at=at, snapshot=args.from_id, request=request, progress=bar
        ) as session,
    ):
        plan = session.plan(request)
        if args.dry_run or not plan.changes_anything:
            data = {"past": session.words, "plan": plan.to_json()}
            out.result(data, preview_lines(plan, session.words))
            return 0
        if not out.json_mode:
            out.line("\n".join(preview_lines(plan, session.words)))
        if not out.confirmed(
            f"Bring these rows back into {plan.live_table}? A protected safety snapshot of "
            "the database is taken first.",
            "nothing changed",
            "answer y on a terminal, or add --yes",
        ):
            return 2
        outcome = session.apply(request, plan, progress=bar)
    out.result(outcome.to_json(), merged_lines(outcome))
    return 0


def preview_lines(plan: MergePlan, past: str) -> list[str]:
    table = plan.table if plan.table == plan.live_table else f"{plan.table} -> {plan.live_table}"
    lines = [f"{table}: rows of {past}, matched by {plan.match}"]
    if plan.create_table:
        lines.append(f"  the table is gone now: it is created again with its {plan.deleted} row(s)")
    else:
        lines.append(
            f"  deleted since: {plan.deleted}; changed since: {plan.changed}; unchanged: "
            f"{plan.unchanged}; added since: {plan.added} (kept)"
        )
    lines.append(f"  to bring back: {plan.to_insert} row(s); to put back: {plan.overwritten}")
    if plan.skipped_changed:
        lines.append(
            f"  {plan.skipped_changed} changed row(s) kept as they are now "
            "(--prefer past puts them back)"
        )
    if plan.conflicts:
        lines.append(f"  {plan.conflicts} row(s) left out: they would break a UNIQUE constraint")
    lines += [f"  note: {n}" for n in plan.notes]
    lines += [_sample_line(s) for s in plan.rows]
    if not plan.changes_anything:
        lines.append("  nothing to bring back")
    return lines


def _sample_line(sample: RowSample) -> str:
    past = _values(sample.past)
    if sample.kind == "changed" and sample.live is not None:
        changed = {k: v for k, v in sample.live.items() if sample.past.get(k) != v}
        return f"  changed: {past}  now: {_values(changed)}"
    if sample.kind == "conflict":
        return f"  left out: {past} ({sample.reason})"
    return f"  deleted: {past}"


def _values(row: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in row.items())
    return text if len(text) <= 200 else text[:197] + "..."


def merged_lines(outcome: MergeOutcome) -> list[str]:
    plan = outcome.plan
    lines = [
        f"brought back {outcome.inserted} row(s) and put back {outcome.updated} in "
        f"{plan.live_table} from {outcome.past} in {outcome.seconds:.1f} s"
    ]
    if outcome.safety_id:
        lines.append(
            f"the database as it was before is kept as protected snapshot {outcome.safety_id}"
        )
    return lines
