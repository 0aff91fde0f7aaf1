"""The catalog: an index of snapshots, job runs and events in its own SQLite file.

It is only an index: the manifests beside the artifacts are the truth, and
`rebuild_snapshots` recreates the snapshot rows from them. WAL mode and a busy timeout
make it safe for the tray, the daemon and CLI commands to use at once; every call opens
a short transaction on its own connection, so it is safe across threads too.
"""

from __future__ import annotations

from lifeboat.core.catalog_history import EventLog, JobLog
from lifeboat.core.catalog_ledgers import AttentionLedger, OpenUploadLedger
from lifeboat.core.catalog_listing import SnapshotListing
from lifeboat.core.catalog_segments import SegmentCopyIndex
from lifeboat.core.catalog_snapshots import SnapshotIndex


class Catalog(
    SnapshotIndex,
    SnapshotListing,
    JobLog,
    EventLog,
    AttentionLedger,
    OpenUploadLedger,
    SegmentCopyIndex,
):
    """`Catalog(path, run_token)`: its file (catalog_file.py) with one part per area
    mixed in: snapshots and their remote copies (catalog_snapshots.py), jobs and events
    (catalog_history.py), files needing attention and open uploads (catalog_ledgers.py),
    segments of continuous history on remotes (catalog_segments.py), the list
    `lifeboat snapshots` shows (catalog_listing.py)."""
