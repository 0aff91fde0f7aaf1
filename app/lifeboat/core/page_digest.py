"""The content digest of a database while it is decompressed, and what it proves.

A snapshot's manifest records its `content_digest`: SHA-256 of the xxh3-128 hashes of
the database's pages in page order, computed from the very bytes that were compressed
(and integrity-checked) when the snapshot was taken (core/snapshot_pack.py; docs/FORMAT.md).
`PageDigest` computes the same digest of the pages a restore decompresses, so a restore
can prove that what it wrote is exactly the database that passed the snapshot's check
(`proves_checked`), instead of checking it again (docs/SAFETY.md, "Restores").
"""

from __future__ import annotations

import hashlib

from lifeboat.core.manifest import Manifest
from lifeboat.core.pagediff import page_hashes_of

#: the manifest key of the content digest (core/snapshot.py's CONTENT_DIGEST; not imported
#: from there: that module pulls in the whole snapshot machinery)
CONTENT_DIGEST = "content_digest"
#: what each check mode also covers: integrity_check does everything quick_check does
_COVERS = {"quick": {"quick"}, "full": {"quick", "full"}}


class PageDigest:
    """SHA-256 of the xxh3-128 hashes of the pages of a stream of plain bytes, fed in
    order in blocks of any size (a block's page hashes may be given, computed elsewhere)."""

    def __init__(self, page_size: int) -> None:
        self.page_size = page_size
        self._digest = hashlib.sha256()
        self._carry = bytearray()  # the start of a page cut by a block's end

    def update(self, block: bytes | memoryview, hashes: bytes | None = None) -> None:
        """The next `block` of plain bytes; `hashes`: page_hashes_of(block), when the
        caller already has them (then the block holds whole pages)."""
        if not self._carry and hashes is not None:
            self._digest.update(hashes)
            return
        if not self._carry and len(block) % self.page_size == 0:
            self._digest.update(page_hashes_of(memoryview(block), self.page_size))
            return
        self._carry.extend(block)
        whole = len(self._carry) // self.page_size * self.page_size
        if whole:
            self._digest.update(page_hashes_of(memoryview(self._carry)[:whole], self.page_size))
            del self._carry[:whole]

    def hexdigest(self) -> str:
        """The digest, or "" if the bytes did not end on a page boundary (nothing proven)."""
        return "" if self._carry else self._digest.hexdigest()


def whole_page_hashes(plain: bytes, page_size: int) -> bytes | None:
    """The page hashes of `plain` if it holds whole pages (a worker thread's share of
    PageDigest's work), else None."""
    if not plain or len(plain) % page_size:
        return None
    return page_hashes_of(memoryview(plain), page_size)


def check_covers(done_mode: str, wanted_mode: str) -> bool:
    """Whether a check in `done_mode` covers what a check in `wanted_mode` checks."""
    return wanted_mode in _COVERS.get(done_mode, set())


def proves_checked(manifest: Manifest, wanted_mode: str, pages_digest: str) -> bool:
    """Whether the restored database whose content digest is `pages_digest` is proven to
    be, byte for byte, the database the snapshot's own integrity check passed in a mode
    covering `wanted_mode`. (A differential's rebuild proves it itself, by the content
    digest it records, else its db_sha256: core/reconstruct.py, see extract_verified.)"""
    return is_recorded_digest(manifest, pages_digest) and snapshot_check_passed(
        manifest, wanted_mode
    )


def is_recorded_digest(manifest: Manifest, pages_digest: str) -> bool:
    """Whether `pages_digest` is the content digest the manifest records (never when
    either is missing)."""
    recorded = manifest.extra.get(CONTENT_DIGEST)
    return bool(pages_digest) and isinstance(recorded, str) and recorded == pages_digest


def snapshot_check_passed(manifest: Manifest, wanted_mode: str) -> bool:
    """Whether the manifest records a passed check covering `wanted_mode`."""
    return manifest.check_result == "ok" and check_covers(manifest.check_mode, wanted_mode)


def recorded_digest(manifest: Manifest) -> str | None:
    """The content digest `manifest` records, if any: what proves the rebuild of a
    differential that records no db_sha256 (the safety snapshot of a restore or merge,
    core/snapshot_request.whole_sha256; checked in core/reconstruct.py)."""
    value = manifest.extra.get(CONTENT_DIGEST)
    return value if isinstance(value, str) and value else None
