"""Whether an in-place restore has nothing to write: the live database already holds, page
for page, the snapshot being restored.

Proven under the database's write lock (the restore's own write transaction: no other
program commits while it is held), from its file frozen by WAL read lock 0
(core/wal_direct.py, after a PASSIVE checkpoint: only done where the restore writes the
database anyway): the content digest of its pages (core/page_digest.py, page 1's header
as a standalone copy's, exactly as a snapshot's digest is computed) equals the one the
snapshot's manifest records. The database then is the restored one already; writing it
again would only cost time. Anything that cannot be proven (a rollback-journal database,
frames not copied back, another page count or size) says no, and the restore writes.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lifeboat.core.manifest import Manifest
from lifeboat.core.page_digest import CONTENT_DIGEST, PageDigest
from lifeboat.core.seekable_write import FRAME_PLAIN
from lifeboat.core.sqlite_file import says_wal
from lifeboat.core.wal_direct import frames_of, frozen_wal


def holds_snapshot(target: Path, manifest: Manifest, busy_timeout: float) -> bool:
    """Whether the WAL database at `target` holds exactly `manifest`'s pages. A proof
    only while the caller holds the database's write lock (core/restore.py asks under
    the backup API's): no commit can come between this and what the caller does."""
    recorded = manifest.extra.get(CONTENT_DIGEST)
    if not isinstance(recorded, str) or not recorded:
        return False
    if not says_wal(target):
        # A rollback-journal database cannot be frozen: asking would only wait out the
        # busy timeout against the restore's own lock.
        return False
    try:
        return _frozen_digest(target, manifest, busy_timeout) == recorded
    except (OSError, sqlite3.Error):
        return False


def _frozen_digest(target: Path, manifest: Manifest, busy_timeout: float) -> str | None:
    """The content digest of the database file frozen by WAL read lock 0, or None (not
    frozen, or not of the snapshot's shape)."""
    # the caller's write lock: the checkpoint is allowed on an SQLite with the WAL-reset
    # bug too (core/wal_reset.py)
    with frozen_wal(target, busy_timeout, checkpoint=True, writes_held=True) as frozen:
        if frozen is None or (frozen.page_size, frozen.page_count) != (
            manifest.page_size,
            manifest.page_count,
        ):
            return None
        digest = PageDigest(frozen.page_size)
        for piece in frames_of(frozen, FRAME_PLAIN):
            digest.update(piece)
        return digest.hexdigest()


def same_content(one: Manifest, other: Manifest) -> bool:
    """Whether two snapshots record the same content digest (never when one has none)."""
    digest = one.extra.get(CONTENT_DIGEST)
    return bool(digest) and digest == other.extra.get(CONTENT_DIGEST)
