"""`lifeboat query NAME|ID [--at T] "select ..." [--json|--csv]`: a read-only query on
any backup point (a snapshot, or a source as it was at a moment), without restoring it.

The table (default) shows at most TABLE_ROWS rows, each value cut to CELL_WIDTH
characters; --csv and --json stream every row, whole. A BLOB is shown as x'hex' (cut in
the table), in JSON as its hex digits.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Iterator, Sequence
from typing import Any

from lifeboat.cli.commands_points import AT_HELP, moment, precise
from lifeboat.cli.output import Output
from lifeboat.core.point_query import PointQuery, QueryResult
from lifeboat.foundation.errors import ConfigError
from lifeboat.service import Service
from lifeboat.service.point_reading import PointLabel

TABLE_ROWS = 1000
CELL_WIDTH = 60


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    query = commands.add_parser(
        "query",
        parents=[common],
        help="run a read-only SQL query on a snapshot or a point in time, without restoring",
    )
    query.add_argument("ref", metavar="NAME|ID", help="a source's name, or a snapshot id")
    query.add_argument("sql", metavar="SQL", help='one read-only statement, e.g. "select ..."')
    query.add_argument("--at", metavar="TIME", help="with a source's name: " + AT_HELP)
    query.add_argument("--csv", action="store_true", help="rows as CSV (a header line first)")
    query.set_defaults(handler=cmd_query)


def cmd_query(args: argparse.Namespace, service: Service, out: Output) -> int:
    if args.csv and args.json:
        raise ConfigError("--csv and --json do not go together", "pick one")
    at = moment(args.at) if args.at is not None else None
    with service.open_point(args.ref, at) as point, PointQuery(point) as query:
        result = query.run(args.sql)
        if args.json:
            _json(out, result)
        elif args.csv:
            _csv(out, result)
        else:
            out.line(_said(point.label))
            _table(out, result)
        if result.stand_ins:
            names = ", ".join(sorted(result.stand_ins))
            out.warn(
                f"the application's {names} stood in for (plain order, NULL results): "
                "values that depend on them are not the application's"
            )
    return 0


def _said(label: PointLabel) -> str:
    if label.commit_seq:
        return (
            f"{label.source} as it was at {precise(label.time)}: commit {label.commit_seq} "
            f"on base snapshot {label.snapshot_id}"
        )
    return f"{label.source}: snapshot {label.snapshot_id} taken {precise(label.time)}"


def _text(value: object, width: int | None = None) -> str:
    if value is None:
        text = "NULL"
    elif isinstance(value, bytes):
        text = f"x'{value.hex()}'"
    else:
        text = str(value)
    if width is not None:
        text = text.replace("\n", " ")
        if len(text) > width:
            text = text[: width - 1] + "…"
    return text


def _table(out: Output, result: QueryResult) -> None:
    rows: list[Sequence[str]] = []
    more = False
    for row in result.rows:
        if len(rows) == TABLE_ROWS:
            more = True
            break
        rows.append([_text(v, CELL_WIDTH) for v in row])
    out.table(result.columns, rows)
    if more:
        out.line(f"(only the first {TABLE_ROWS} rows are shown: add a limit, or use --csv)")
    else:
        out.line(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")


def _csv(out: Output, result: QueryResult) -> None:
    writer = csv.writer(out.out, lineterminator="\n")
    writer.writerow(result.columns)
    for row in result.rows:
        writer.writerow(["" if v is None else _text(v) for v in row])


def _json(out: Output, result: QueryResult) -> None:
    """A JSON array of objects, one per row (a repeated column name gets ":2", ":3")."""
    names = _unique(result.columns)
    first = True
    out.out.write("[")
    for row in _json_rows(result.rows):
        out.out.write(
            ("\n  " if first else ",\n  ") + json.dumps(dict(zip(names, row, strict=True)))
        )
        first = False
    out.out.write("\n]\n" if not first else "]\n")


def _json_rows(rows: Iterator[tuple[Any, ...]]) -> Iterator[list[Any]]:
    for row in rows:
        yield [v.hex() if isinstance(v, bytes) else v for v in row]


def _unique(columns: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for name in columns:
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}:{seen[name]}")
    return names
