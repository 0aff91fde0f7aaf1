"""`lifeboat backup|snapshots|verify|catalog rebuild`."""

from __future__ import annotations

import argparse
from typing import Any

from lifeboat.cli.output import Output, local_time
from lifeboat.core.catalog_records import SnapshotLine, SnapshotRecord
from lifeboat.core.manifest import recorded_unchecked
from lifeboat.foundation.errors import LifeboatError
from lifeboat.foundation.units import format_bytes
from lifeboat.service import Service


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    backup = commands.add_parser("backup", parents=[common], help="take a snapshot now")
    target = backup.add_mutually_exclusive_group(required=True)
    target.add_argument("name", nargs="?", help="the source to back up")
    target.add_argument("--all", action="store_true", help="back up every source")
    backup.add_argument(
        "--full", action="store_true", help="a whole snapshot (a new base), not a differential"
    )
    backup.add_argument(
        "--protect", action="store_true", help="protect this snapshot: retention never prunes it"
    )
    backup.add_argument(
        "--no-upload",
        action="store_true",
        help="keep it here for now; the next upload (or `lifeboat upload NAME`) sends it",
    )
    backup.add_argument(
        "--reason",
        choices=["manual", "pre-migration", "pinned", "other"],
        default=None,
        help="why it is taken (default manual)",
    )
    backup.set_defaults(handler=cmd_backup)

    snaps = commands.add_parser("snapshots", parents=[common], help="list snapshots")
    snaps.add_argument("name", nargs="?", help="only this source's snapshots")
    snaps.set_defaults(handler=cmd_snapshots)

    verify = commands.add_parser(
        "verify", parents=[common], help="re-hash, decompress and check snapshots"
    )
    which = verify.add_mutually_exclusive_group()
    which.add_argument("id", nargs="?", help="one snapshot id (or unique prefix)")
    which.add_argument("--all", action="store_true", help="every snapshot (the default)")
    verify.add_argument("--source", help="only this source's snapshots")
    verify.add_argument(
        "--check", choices=["quick", "full"], help="integrity check to run (default: the source's)"
    )
    verify.set_defaults(handler=cmd_verify)

    catalog = commands.add_parser("catalog", help="maintain the catalog (the index)")
    actions = catalog.add_subparsers(dest="action", metavar="ACTION", parser_class=type(catalog))
    rebuild = actions.add_parser(
        "rebuild", parents=[common], help="recreate the catalog from the manifests on disk"
    )
    rebuild.set_defaults(handler=cmd_catalog_rebuild)
    catalog.set_defaults(handler=lambda a, s, o: (catalog.print_help(), 2)[1])


def cmd_backup(args: argparse.Namespace, service: Service, out: Output) -> int:
    names = [s.name for s in service.sources()] if args.all else [args.name]
    if args.all and not names:
        out.error("there are no sources to back up", "add one with: lifeboat source add PATH", 2)
        return 2
    taken: list[dict[str, object]] = []
    failed = 0
    for name in names:
        try:
            with out.progress_bar() as bar:
                outcome = service.run_backup(
                    name,
                    progress=bar,
                    protect=args.protect,
                    reason=args.reason or "manual",
                    full=args.full,
                    upload=not args.no_upload,
                )
        except LifeboatError as exc:
            if not args.all:
                raise
            failed += 1
            out.error(f"{name}: {exc.message}", exc.hint, exc.exit_code)
            taken.append({"source": name, "error": exc.message})
            continue
        assert outcome.snapshot is not None  # a manual backup is never skipped
        data = {**outcome.snapshot.to_json(), "unchanged": outcome.unchanged}
        taken.append(data)
        if outcome.unchanged:
            out.line(f"{name}: {outcome.message} (snapshot {outcome.snapshot.id})")
        else:
            _print_taken(out, outcome.snapshot)
        if outcome.upload_error is not None:
            failed += 1
            data["upload_error"] = outcome.upload_error.message
            out.error(
                f"{name}: the snapshot is kept here, but the upload failed: "
                f"{outcome.upload_error.message}",
                "it is uploaded by the next backup, or now with: lifeboat upload " + name,
                1,
            )
        elif outcome.uploaded is not None and (outcome.uploaded or not outcome.unchanged):
            data["uploaded"] = outcome.uploaded
            out.line(
                f"  uploaded to {service.source(name).remote}: {len(outcome.uploaded)} "
                f"snapshot(s), {format_bytes(outcome.uploaded_bytes)}"
            )
    if out.json_mode:
        out.json(taken if args.all else taken[0])
    return 1 if failed else 0


def _print_taken(out: Output, record: SnapshotRecord) -> None:
    m = record.manifest
    ratio = m.size / m.db_size * 100 if m.db_size else 0
    kind = f"differential of {m.base}" if m.kind == "diff" else "full"
    out.line(
        f"{m.source}: snapshot {m.id} ({kind}) taken in {m.duration_s:.1f} s "
        f"({format_bytes(m.db_size)} -> {format_bytes(m.size)}, {ratio:.1f}%), "
        f"check {m.check_mode}: {m.check_result}"
    )
    for item in recorded_unchecked(m.extra):
        out.line(f"  not checked: {item}")
    out.line(f"  {record.path}")


def snapshot_row(line: SnapshotLine) -> list[str]:
    flags = ",".join(
        f
        for f, on in (("protected", line.protected), ("partly-checked", line.partly_checked))
        if on
    )
    kind = f"diff/{line.base}" if line.kind == "diff" else line.kind
    return [
        line.id,
        line.source,
        local_time(line.created_at),
        kind,
        format_bytes(line.size),
        format_bytes(line.db_size),
        line.status,
        "+".join(line.locations),
        line.reason,
        flags,
    ]


def cmd_snapshots(args: argparse.Namespace, service: Service, out: Output) -> int:
    # The text list reads only what it shows (10,000 whole records took most of a
    # second); the JSON gives every field, from the whole records.
    records = service.snapshots(args.name) if out.json_mode else []
    lines = [] if out.json_mode else service.snapshot_lines(args.name)
    if args.name and not (records or lines):
        service.source(args.name)  # no such source: says so (else: none of its snapshots)
    attention = service.attention(args.name)
    if out.json_mode:
        out.json(
            [_with_unchecked(r.to_json(), r) for r in records]
            + [{"status": "needs-attention", **a.to_json()} for a in attention]
        )
        return 0
    if not lines:
        out.line("no snapshots yet; take one with: lifeboat backup NAME")
    else:
        out.table(
            [
                "ID",
                "SOURCE",
                "CREATED",
                "KIND",
                "SIZE",
                "DB SIZE",
                "STATUS",
                "WHERE",
                "REASON",
                "FLAGS",
            ],
            [snapshot_row(line) for line in lines],
        )
    if attention:
        out.line("")
        out.line("needs attention (kept, nothing was deleted):")
        for item in attention:
            out.line(f"  {item.path}")
            out.line(f"    {item.reason}")
        out.line("recover what can be recovered with: lifeboat catalog rebuild")
    return 0


def cmd_verify(args: argparse.Namespace, service: Service, out: Output) -> int:
    if args.id is not None and args.id in service.config().sources:
        args.source, args.id = args.id, None  # `lifeboat verify NAME`
    if args.source:
        service.source(args.source) if not service.snapshots(args.source) else None
    with out.progress_bar() as bar:
        results = service.verify(args.id, source=args.source, check=args.check, progress=bar)
    chains = service.verify_history(args.source) if args.id is None else []
    bad = [r for r in results if not r.ok] + [c for c in chains if not c.ok]
    if out.json_mode:
        out.json(
            [_with_unchecked(r.to_json(), r.record) for r in results]
            + [c.to_json() for c in chains]
        )
    else:
        for c in chains:
            what = f"{c.source}  history of base {c.base_id}: {c.commits} commit(s)"
            note = f"  {c.problem}" if c.problem else "  (every segment checked, continuous)"
            out.line(f"{c.status.upper() if not c.ok else c.status:<8} {what}{note}")
        for r in results:
            m = r.record.manifest
            if r.skipped:
                out.line(
                    f"remote   {m.id}  {m.source}  only remote copies "
                    f"({', '.join(r.record.locations)}): not checked here"
                )
            elif r.ok:
                note = f"  ({r.problem})" if r.problem else ""
                unchecked = recorded_unchecked(m.extra)
                if unchecked:
                    note += f"  (not checked: {'; '.join(unchecked)})"
                out.line(f"ok       {m.id}  {m.source}  {local_time(m.created_at)}{note}")
            else:
                out.line(f"{r.status.upper():<8} {m.id}  {m.source}  {r.problem}")
        if not results:
            out.line("no snapshots to verify")
        elif bad:
            out.err.write(
                f"error: {len(bad)} of {len(results) + len(chains)} snapshot(s) and history "
                "chain(s) failed verification\n"
            )
        else:
            out.line(f"all {len(results)} snapshot(s) verified")
    return 1 if bad else 0


def _with_unchecked(data: dict[str, object], record: SnapshotRecord) -> dict[str, object]:
    """JSON of a snapshot plus what its check could not check (the manifest's list)."""
    data["not_checked"] = recorded_unchecked(record.manifest.extra)
    return data


def cmd_catalog_rebuild(args: argparse.Namespace, service: Service, out: Output) -> int:
    report = service.rebuild_catalog()
    lines = [f"catalog rebuilt: {report.snapshots} snapshot(s) in {report.folders} folder(s)"]
    lines += [f"  missing or damaged artifact: {i}" for i in report.missing]
    lines += [f"  unreadable manifest: {u}" for u in report.unreadable]
    lines += [f"  recovered from its file: snapshot {r}" for r in report.recovered]
    lines += [f"  needs attention (kept): {a}" for a in report.attention]
    lines += [f"  left as it was: {b}" for b in report.busy]
    lines += [f"  remote {r}: {n} snapshot(s)" for r, n in report.remote_snapshots.items()]
    lines += [f"  remote manifest without its artifact: {k}" for k in report.remote_incomplete]
    lines += [
        f"  remote copy does not match its manifest: {m}; not counted"
        for m in report.remote_mismatched
    ]
    lines += [f"  remote not read: {e}" for e in report.remote_errors]
    out.result(report.to_json(), lines)
    return 0
