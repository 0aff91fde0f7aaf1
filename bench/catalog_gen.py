"""A LIFEBOAT_HOME with many sources and snapshots, for the scale benchmark (issue 22).

Each source is a small real SQLite database added as the product adds one; Lifeboat then
takes two real backups of it (before and after a change), through the service as
`lifeboat backup` does. The rest of the source's snapshots
are copies of its real full snapshot, each under its own id and an older time: the
artifact's bytes and its page-hash list are copied under the new snapshot's own names
(core/private.write_new: exclusive, 0600), its manifest is the real one with the new id,
time and reason, written by core/manifest.write_manifest, and it enters the catalog by the
same call a backup uses (catalog.add_snapshot), with a finished job record beside it as a
backup leaves one. So every record is one the product itself writes, every file is
whole and checks out (`lifeboat verify` passes on any of them), and the catalog, the
folders, `catalog rebuild` and the History window see what they would see after that
many backups. With --uploaded-to NAME the sources upload to a remote of that name, and
each snapshot's copy there is recorded as an upload records a proven one
(catalog.add_remote_copy); no server holds them (the remote's endpoint is
https://bench.invalid): status, History and the tray read only the catalog, so they see
what they would after the uploads, but nothing may be uploaded to or read from it.
Its sources are scheduled, but never due while a bench runs (NEVER_DUE).
What it does not have: differentials (a differential names its base inside
its file, so a copy could not take another base; the sources are not incremental) and
real changes between the copies (they all hold the same database).

Usage: python bench/catalog_gen.py HOME [--sources 100] [--snapshots 10000]
                                   [--uploaded-to NAME]
(HOME must not exist yet.)
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "app"))

from lifeboat.core.catalog_records import RemoteCopy, SnapshotRecord
from lifeboat.core.manifest import (
    ARTIFACT_SUFFIXES,
    PAGES_SUFFIX,
    iso_utc,
    new_snapshot_id,
    utc_now,
    write_manifest,
)
from lifeboat.core.private import write_new
from lifeboat.core.remote_keys import object_key
from lifeboat.foundation.states import JobStatus
from lifeboat.service import Service

#: How far apart the copies are in time (as an hourly schedule would take them).
SPACING = timedelta(hours=1)
#: The generated sources' backup and drill schedule: never due during a bench. A real
#: schedule (the tray's scheduler holds a trigger for each source, as for any scheduled
#: one), due only on 29 February at 03:00: the backups made here are newer than its last
#: due time, so a tray started on them catches up nothing, and the sources never count as
#: stale (twice its shortest period is 8 years). With "daily 03:00" a tray started after
#: 03:00 began with a catch-up backup of every source, and the idle CPU and RSS depended
#: on the time of day; the drills' default ("weekly sun 04:00") would start 100 drills
#: in a bench that runs over a Sunday 04:00.
NEVER_DUE = 'cron "0 3 29 2 *"'


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("home", type=Path)
    parser.add_argument("--sources", type=int, default=100)
    parser.add_argument("--snapshots", type=int, default=10_000)
    parser.add_argument("--uploaded-to", metavar="NAME")
    args = parser.parse_args()
    started = time.perf_counter()
    made = build_home(args.home, args.sources, args.snapshots, args.uploaded_to)
    print(f"{made} snapshots of {args.sources} sources in {args.home}", end=" ")
    print(f"({time.perf_counter() - started:.0f} s)")


def build_home(home: Path, sources: int, snapshots: int, remote: str | None = None) -> int:
    """Make `home` with `sources` sources and `snapshots` snapshots in all (at least two
    per source: the real ones), uploading to `remote` if given (see the module's doc).
    Returns how many snapshots it holds."""
    if home.exists():
        raise SystemExit(f"{home} exists already; give a new folder")
    os.environ["LIFEBOAT_HOME"] = str(home)
    databases = home.parent / f"{home.name}-databases"
    databases.mkdir(parents=True)
    service = Service()
    if remote is not None:
        service.add_remote(
            remote,
            provider="minio",
            bucket="lb-bench",
            endpoint="https://bench.invalid",
            prefix="lb",
            credentials="env",
        )
    per_source = max(2, snapshots // sources)
    total = 0
    for n in range(sources):
        name = f"src{n:03d}"
        db = _database(databases / f"{name}.sqlite")
        # keep=within=2y: retention keeps every copy (they are at most weeks old)
        service.add_source(db, name=name, keep="within=2y", schedule=NEVER_DUE, remote=remote)
        service.update_source(name, drill=NEVER_DUE)
        service.run_backup(name, full=True, upload=False)
        with sqlite3.connect(db) as con:
            con.execute("UPDATE notes SET body = body || '!' WHERE id % 7 = 0")
        service.run_backup(name, upload=False)
        total += 2 + _copies(service, name, per_source - 2)
        if remote is not None:
            _record_uploaded(service, name, remote)
    return total


def _database(path: Path) -> Path:
    """A small WAL database like an app's: a table of 400 notes (~100 KB)."""
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, title TEXT, body TEXT)")
        con.executemany(
            "INSERT INTO notes(title, body) VALUES (?, ?)",
            [(f"note {i}", f"body of note {i} " * 12) for i in range(400)],
        )
    return path


def _copies(service: Service, name: str, count: int) -> int:
    """`count` copies of the source's real full snapshot, one SPACING apart, older than
    the real ones."""
    workspace = service.workspace
    records = workspace.catalog.snapshots(name)
    full = next(r for r in records if r.manifest.kind == "full")
    artifact = full.path.read_bytes()
    pages = (full.folder / f"{full.manifest.stem}{PAGES_SUFFIX}").read_bytes()
    oldest = min(r.manifest.created_at for r in records)
    for k in range(1, count + 1):
        _copy(service, full, artifact, pages, oldest - k * SPACING)
    return count


def _copy(
    service: Service, full: SnapshotRecord, artifact: bytes, pages: bytes, when: datetime
) -> None:
    workspace = service.workspace
    snap_id = new_snapshot_id()
    manifest = replace(full.manifest, id=snap_id, created_at=when, reason="scheduled")
    manifest = replace(manifest, artifact=manifest.stem + ARTIFACT_SUFFIXES["full"])
    write_new(full.folder / manifest.artifact, artifact)
    write_new(full.folder / f"{manifest.stem}{PAGES_SUFFIX}", pages)
    write_manifest(full.folder, manifest, workspace.run)
    job = workspace.catalog.start_job("backup", manifest.source, "scheduled")
    workspace.catalog.add_snapshot(manifest, full.folder)
    workspace.catalog.finish_job(job, JobStatus.OK, snapshot_id=snap_id)


def _record_uploaded(service: Service, name: str, remote: str) -> None:
    """Each of the source's snapshots recorded as uploaded to `remote` and proven, as
    an upload records it (under the keys an upload would use)."""
    catalog = service.workspace.catalog
    for record in catalog.snapshots(name):
        m = record.manifest
        copy = RemoteCopy(
            remote,
            object_key("lb", m.source, m.artifact),
            object_key("lb", m.source, m.manifest_name),
            m.size,
            m.sha256,
            False,
            iso_utc(utc_now()),
        )
        catalog.add_remote_copy(m.id, copy)


if __name__ == "__main__":
    main()
