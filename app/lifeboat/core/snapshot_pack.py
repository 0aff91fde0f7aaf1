"""Pack the checked copy of a database into a snapshot's artifact (core/snapshot.py).

A full snapshot is the copy compressed with zstd, with SHA-256 in the same pass and the
page-hash list a later differential compares against; a differential holds only the pages
that changed since the request's base, unless too much changed (then a new full base).
Every page's xxh3 hash feeds the content digest. Each file is a work file of the run,
listed in `written` as soon as it exists so the caller removes it unless it commits.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lifeboat.core.compress import CompressResult
from lifeboat.core.diff_index import ChangedPages
from lifeboat.core.hashing import sha256_file
from lifeboat.core.pagediff import (
    HEADER,
    PAGE_NUMBER,
    DiffHeader,
    DiffTooLarge,
    PageScan,
    diff_stream,
    page_hashes_of,
)
from lifeboat.core.private import open_new
from lifeboat.core.seekable_write import FRAME_PLAIN, compress_frames, read_frames, rechunk
from lifeboat.core.snapshot_request import SnapshotRequest
from lifeboat.foundation.errors import OperationFailed
from lifeboat.foundation.progress import CancelToken, Progress


@dataclass
class Packed:
    """An artifact packed into work files of the run, not yet in place."""

    kind: str
    result: CompressResult
    content_digest: str
    artifact: Path  # the work file holding it (in the folder, or scratch when sealing)
    pages: Path | None = None  # the work file of its page-hash list
    db_sha256: str | None = None
    pages_sha256: str | None = None
    note: str | None = None


#: A fresh pass over the database's bytes in pieces of whole pages (called once per pass:
#: a differential that grows too large is packed again as a full).
Reader = Callable[[], Iterator[bytes]]


def pack_copy(
    request: SnapshotRequest,
    copy: Path,
    page_size: int,
    written: list[Path],
    progress: Progress,
    cancel: CancelToken,
) -> Packed:
    """The copy `copy` packed: see pack."""
    size = copy.stat().st_size
    return pack(request, lambda: _file_frames(copy), size, page_size, written, progress, cancel)


def pack(
    request: SnapshotRequest,
    read: Reader,
    size: int,
    page_size: int,
    written: list[Path],
    progress: Progress,
    cancel: CancelToken,
) -> Packed:
    """The database `read` gives (`size` bytes) packed as a differential against the
    request's base if it is worth it, else as a full."""
    base = request.base
    note = None
    if base is not None:
        if base.manifest.page_size != page_size:
            note = "the page size changed"
        else:
            try:
                return _differential(request, read, size, page_size, written, progress, cancel)
            except DiffTooLarge:
                note = "too much changed since the base"
    if request.share is not None:
        request.share.abandon()  # a full's pass is not shared: its reader need not wait
    packed = pack_full(request, read(), size, page_size, written, progress, cancel)
    packed.note = note
    return packed


def _file_frames(path: Path) -> Iterator[bytes]:
    with open(path, "rb", buffering=0) as fin:
        yield from read_frames(fin, FRAME_PLAIN)


def _artifact_work_path(request: SnapshotRequest, kind: str) -> Path:
    # A plain artifact that is to be sealed never enters the snapshot folder.
    folder = request.scratch if request.recipients else request.folder
    return request.run.work_path(folder, kind)


def _direct(request: SnapshotRequest) -> bool:
    """Whether the artifact is written around the page cache (core/direct_stream.py):
    unless it is to be sealed, which reads it back at once."""
    return not request.recipients


def pack_full(
    request: SnapshotRequest,
    frames: Iterable[bytes],
    size: int,
    page_size: int,
    written: list[Path],
    progress: Progress,
    cancel: CancelToken,
) -> Packed:
    """A full snapshot of the database whose `size` bytes `frames` give (pieces of
    FRAME_PLAIN bytes): compressed, with its page-hash list when the request keeps one."""
    partial = _artifact_work_path(request, "sqlite.zst")
    written.append(partial)
    digest = hashlib.sha256()  # of the page hashes: the content digest
    pages_partial = request.run.work_path(request.folder, "pages") if request.hash_pages else None
    hashes = None
    if pages_partial is not None:
        written.append(pages_partial)
        hashes = open_new(pages_partial)

    def observer(block: memoryview) -> None:
        listed = page_hashes_of(block, page_size)
        digest.update(listed)
        if hashes is not None:
            hashes.write(listed)

    try:
        result = compress_frames(
            frames,
            partial,
            size=size,
            level=request.level,
            progress=progress,
            cancel=cancel,
            observer=observer,
            direct=_direct(request),
        )
        pages_sha = None
        if hashes is not None and pages_partial is not None:
            hashes.flush()
            os.fsync(hashes.fileno())
            hashes.close()
            pages_sha = sha256_file(pages_partial)
    finally:
        if hashes is not None and not hashes.closed:
            hashes.close()
    return Packed(
        "full", result, digest.hexdigest(), partial, pages_partial, pages_sha256=pages_sha
    )


def _differential(
    request: SnapshotRequest,
    read: Reader,
    size: int,
    page_size: int,
    written: list[Path],
    progress: Progress,
    cancel: CancelToken,
) -> Packed:
    base = request.base
    assert base is not None
    if sha256_file(base.pages) != base.manifest.pages_sha256:
        raise OperationFailed(
            f"the page-hash list of base {base.manifest.id} does not match its manifest"
        )
    partial = _artifact_work_path(request, "diff.zst")
    written.append(partial)
    page_count = size // page_size
    header = DiffHeader(page_size, page_count, base.manifest.id, base.manifest.sha256)
    scan = PageScan()
    # The differential may take at most rebase_ratio of the base's stored size; judge
    # it by the changed pages' plain size at the base's compression ratio.
    base_ratio = base.manifest.size / max(base.manifest.db_size, 1)
    limit = int(request.rebase_ratio * base.manifest.size / max(base_ratio, 0.01))
    # Each frame holds whole records (the first also the header), so a reader finds
    # record k's frame and offset from the record size.
    record = PAGE_NUMBER.size + page_size
    per_frame = max(1, FRAME_PLAIN // record) * record
    stream = diff_stream(
        read(),
        size,
        page_size,
        base.pages,
        header,
        scan,
        limit,
        progress,
        cancel,
        whole_sha256=request.whole_sha256,
        share=request.share,
    )
    changed = ChangedPages(page_size)  # the index frame: which pages, in order
    result = compress_frames(
        rechunk(stream, HEADER.size + per_frame, per_frame),
        partial,
        size=None,
        level=request.level,
        cancel=cancel,
        observer=changed,
        trailer=changed.index_frame,
        direct=_direct(request),
    )
    return Packed("diff", result, scan.content_digest, partial, db_sha256=scan.db_sha256 or None)
