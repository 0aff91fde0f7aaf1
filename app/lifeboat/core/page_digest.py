"""The content digest of a database: SHA-256 of its pages' xxh3-128 hashes, in order.

Every snapshot records it (manifest extra `content_digest`, docs/FORMAT.md). A
differential taken without the whole database's SHA-256 (the safety snapshot of a
restore or merge: core/snapshot_request.whole_sha256) is proven by it instead: its
rebuild must give the same digest, which costs a fraction of a SHA-256 of every byte.
"""

from __future__ import annotations

import hashlib

from lifeboat.core.manifest import Manifest
from lifeboat.core.pagediff import page_hashes_of

CONTENT_DIGEST = "content_digest"  # manifest key, see docs/FORMAT.md


def recorded_digest(manifest: Manifest) -> str | None:
    """The content digest `manifest` records, if any."""
    value = manifest.extra.get(CONTENT_DIGEST)
    return value if isinstance(value, str) and value else None


class PageDigest:
    """Computes the content digest of a database fed as blocks in order (a BlockWriter's
    observer: blocks need not end on a page boundary)."""

    def __init__(self, page_size: int) -> None:
        self._page_size = page_size
        self._pending = bytearray()
        self._digest = hashlib.sha256()

    def __call__(self, block: memoryview) -> None:
        if not self._pending and len(block) % self._page_size == 0:
            self._digest.update(page_hashes_of(block, self._page_size))
            return
        self._pending.extend(block)
        whole = len(self._pending) // self._page_size * self._page_size
        if whole:
            self._digest.update(page_hashes_of(memoryview(self._pending)[:whole], self._page_size))
            del self._pending[:whole]

    def hexdigest(self) -> str:
        """The digest of every whole page fed (a partial page left over never matches)."""
        if self._pending:
            return ""
        return self._digest.hexdigest()
