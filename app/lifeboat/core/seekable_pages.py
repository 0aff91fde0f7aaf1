"""Single pages of a snapshot read straight from seekable artifacts (format 3).

A full snapshot's page n is at (n-1) × page size of its plain bytes. A differential's page
is its record when its index lists the page (record k of the list is at a fixed place),
else its full base's page: neither file is rebuilt or decompressed whole. `open_pages`
gives None when an artifact is not seekable (an old one) or a differential's header does
not name this base: the caller then reads the old way, which reports what is wrong.
What this reads informs, it never restores: no whole-file hash is checked here (each
frame's own checksums are).
"""

from __future__ import annotations

from pathlib import Path

from lifeboat.core.diff_index import DiffIndex, read_diff_index
from lifeboat.core.manifest import Manifest
from lifeboat.core.pagediff import HEADER, DiffHeader
from lifeboat.core.seekable import SeekableArtifact, open_seekable
from lifeboat.foundation.errors import CorruptSnapshot


class SeekablePages:
    """Pages by number from a seekable full artifact, and from a seekable differential on
    top of it when given. Use as a context manager, or close()."""

    def __init__(
        self,
        full: SeekableArtifact,
        manifest: Manifest,
        diff: tuple[SeekableArtifact, DiffIndex] | None = None,
    ) -> None:
        self._full = full
        self._diff = diff
        self.manifest = manifest  # of the snapshot read (the differential's, if any)
        self.size = manifest.page_size
        # what core/point_pages.PointPages asks of a point's pages
        self.page_size, self.page_count = manifest.page_size, manifest.page_count

    def page(self, number: int) -> bytes:
        """Page `number` (from 1 to the page count)."""
        if not 1 <= number <= self.manifest.page_count:
            raise ValueError(f"page {number} is not in snapshot {self.manifest.id}")
        where: tuple[SeekableArtifact, int] = (self._full, (number - 1) * self.size)
        if self._diff is not None:
            reader, index = self._diff
            offset = index.record_offset(number)
            if offset is not None:
                where = (reader, offset)
        artifact, offset = where
        page = artifact.read(offset, self.size)
        if len(page) != self.size:
            raise CorruptSnapshot(f"snapshot {self.manifest.id} ends before page {number}")
        return page

    def __enter__(self) -> SeekablePages:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._full.close()
        if self._diff is not None:
            self._diff[0].close()


def open_pages(
    artifact: Path,
    manifest: Manifest,
    parent: tuple[Path, Manifest] | None = None,
    *,
    cache_frames: int = 8,
) -> SeekablePages | None:
    """The pages of the snapshot `manifest` (a differential: on its full `parent`, given as
    (artifact, manifest)), or None if they cannot be read this way."""
    if manifest.kind == "full":
        full = open_seekable(artifact, cache_frames=cache_frames)
        return None if full is None else SeekablePages(full, manifest)
    if manifest.kind != "diff" or parent is None:
        return None
    diff = open_seekable(artifact, cache_frames=2)
    if diff is None:
        return None
    index = read_diff_index(diff, manifest.page_size)
    full = open_seekable(parent[0], cache_frames=cache_frames)
    if index is None or full is None or not _names_its_base(diff, manifest, parent[1]):
        diff.close()
        if full is not None:
            full.close()
        return None
    return SeekablePages(full, manifest, (diff, index))


def _names_its_base(diff: SeekableArtifact, manifest: Manifest, base: Manifest) -> bool:
    try:
        header = DiffHeader.unpack(diff.read(0, HEADER.size))
    except (ValueError, CorruptSnapshot):
        return False
    return (
        header.base_id == base.id
        and header.base_sha256 == base.sha256
        and header.page_size == manifest.page_size == base.page_size
        and header.page_count == manifest.page_count
    )
