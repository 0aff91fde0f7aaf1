"""`lifeboat restore NAME --at T` and `lifeboat diff NAME --at T`: any point in time of a
source's continuous history (the options are registered with `restore` and `diff`)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from lifeboat.cli.output import Output, local_time
from lifeboat.core.dbdiff_records import DatabaseDiff
from lifeboat.core.dbdiff_summary import summarize
from lifeboat.core.history.moments import MomentError, parse_moment
from lifeboat.core.results import PointChoice, RestoreOutcome
from lifeboat.foundation.errors import ConfigError, LifeboatError
from lifeboat.service import Service

AT_HELP = (
    'a moment of the continuous history: "2026-12-01 14:03:22" (local time), an ISO time '
    'with a zone, "15 minutes ago", "2 hours ago", "yesterday 17:00"; the last commit at '
    "or before it is used (ID is then the source's name)"
)


def moment(text: str) -> datetime:
    try:
        return parse_moment(text, datetime.now(UTC))
    except MomentError as exc:
        raise ConfigError(f"--at: {exc}", "see `lifeboat restore --help`") from None


def precise(moment: datetime) -> str:
    """Local time to the millisecond (commits come many a second)."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def chosen(choice: PointChoice) -> str:
    """Which commit (or snapshot) a moment means and how far before it, said plainly."""
    what = "snapshot" if choice.snapshot_only else "commit"
    same = choice.commit_time == choice.asked
    when = (
        ""
        if same
        else f" ({before_text(choice.before_asked)} before {precise(choice.asked)}: the last "
        f"{what} at or before it)"
    )
    if choice.snapshot_only:
        return (
            f"{choice.source} as it was at {precise(choice.commit_time)}{when}: snapshot "
            f"{choice.base_id} (no continuous history covers that moment)"
        )
    return (
        f"{choice.source} as it was at {precise(choice.commit_time)}{when}: commit "
        f"{choice.commit_seq} on base snapshot {choice.base_id}"
    )


def before_text(seconds: float) -> str:
    """'0.4 s', '42 s', '3 min 5 s', '2 h 10 min', '3 days 4 h'."""
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{int(seconds)} s"
    s = int(seconds)
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    days = s // 86400
    return f"{days} day{'' if days == 1 else 's'} {s % 86400 // 3600} h"


def cmd_restore_point(args: argparse.Namespace, service: Service, out: Output) -> int:
    at = moment(args.at)
    choice = service.point(args.id, at)
    target = service.restore_target(choice.base_id, args.to)
    out.line(f"restoring {chosen(choice)}")
    if args.to is None and not args.yes:
        out.line(_preview_paragraph(service, args.id, at))
        question = (
            f"Replace {target} with {args.id} as it was at {local_time(choice.commit_time)}? "
            "The current database is saved first as a protected snapshot."
        )
        if not out.confirmed(
            question,
            f"in-place restore replaces {target}; nothing changed",
            "answer y on a terminal, or add --yes",
        ):
            return 2
    with out.progress_bar() as bar:
        result = service.restore_point(args.id, at, to=args.to, overwrite=args.yes, progress=bar)
    point = result.point or choice
    which = f"snapshot {point.base_id}" if point.snapshot_only else f"commit {point.commit_seq}"
    headline = (
        f"restored {args.id} as it was at {precise(point.commit_time)} ({which}) "
        f"to {result.target} in {result.seconds:.1f} s"
    )
    out.result(result.to_json(), restored_lines(headline, result))
    return 0


def restored_lines(headline: str, result: RestoreOutcome) -> list[str]:
    """What a restore says: what it wrote, then what was kept and what to do."""
    lines = [headline]
    if result.safety_snapshot:
        lines.append(
            f"  what was there before is kept as protected snapshot {result.safety_snapshot}"
        )
    if result.method == "file-replace":
        lines.append("  the file was replaced: programs that had it open must reopen it")
    if result.method == "unchanged":
        lines.append("  it already held exactly this content: nothing was written")
    return lines


def preview_point(
    args: argparse.Namespace, service: Service, out: Output
) -> tuple[PointChoice, DatabaseDiff]:
    """`lifeboat diff NAME --at T`: the point rebuilt and compared with the live database."""
    if args.against:
        raise ConfigError("--at compares with the live database only", "leave out --against")
    at = moment(args.at)
    with out.progress_bar() as bar:
        return service.preview_point(args.id, at, budget=args.budget, progress=bar)


def _preview_paragraph(service: Service, source: str, at: datetime) -> str:
    """What the restore would change; a preview that cannot be made must not stand in
    the way of the restore."""
    try:
        return summarize(service.preview_point(source, at, budget=10.0)[1])
    except LifeboatError as exc:
        return f"(No preview of the changes: {exc.message}.)"
