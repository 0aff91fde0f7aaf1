"""Rebuild a database from a full base and a differential, checked bit for bit.

Both artifacts are read once, in order, through zstd streams whose compressed bytes are
hashed on the way (each must match its manifest's SHA-256); runs of unchanged pages are
copied from the base in large blocks, changed pages from the differential; the output's
content digest (the SHA-256 of its pages' xxh3-128 hashes) must equal the one the
differential records, or (one that records none) its SHA-256 the differential's
`db_sha256`. Memory stays bounded.

A base with a seek table (format 3) is read frame by frame instead, the frames
decompressed in parallel (core/reconstruct_frames.py), with the same proofs and verdicts.

When something fails, both files are read to their end and hashed, so that the verdict
names the file that failed: the differential itself (CorruptSnapshot: it is damaged), or
only its base (BaseUnusable: the differential's own file is intact and is not damaged,
but it cannot be rebuilt while its base is as it is).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Protocol, cast

import zstandard

from lifeboat.core.decompress import BlockWriter, ThreadedReader
from lifeboat.core.manifest import Manifest
from lifeboat.core.page_digest import PageDigest, recorded_digest
from lifeboat.core.pagediff import HEADER, PAGE_NUMBER, DiffHeader
from lifeboat.foundation.errors import CorruptSnapshot, MissingArtifact
from lifeboat.foundation.progress import CancelToken, Progress, no_progress

_COPY_BLOCK = 4 << 20
_HINT = "use another snapshot"


class BaseUnusable(CorruptSnapshot):
    """A differential's own file is intact, but its base failed: the base is damaged,
    the differential is not (say "damaged" only of the base)."""

    def __init__(self, snapshot_id: str, base_id: str, reason: str, hint: str | None = None):
        super().__init__(
            f"snapshot {snapshot_id} cannot be restored: its base {base_id} is damaged: {reason}",
            hint or "restore the base from a remote copy, or use another snapshot",
        )
        self.snapshot_id = snapshot_id
        self.base_id = base_id
        self.reason = reason


class BaseMissing(MissingArtifact):
    """A differential's base (or its file) is not available: the differential itself
    may be intact; it cannot be rebuilt here."""

    def __init__(self, snapshot_id: str, base_id: str, reason: str, hint: str | None = None):
        super().__init__(
            f"snapshot {snapshot_id} cannot be restored: its base {base_id} {reason}",
            hint or "restore the base from a remote copy, or use another snapshot",
        )
        self.snapshot_id = snapshot_id
        self.base_id = base_id
        self.reason = reason


class _InputFailed(Exception):
    """One of the two inputs failed while being read (which one: `side`)."""

    def __init__(self, side: str, reason: str) -> None:
        super().__init__(reason)
        self.side = side  # "base" | "own"
        self.reason = reason


class _Input:
    """A decompressing stream of one input: its failures say which input it was."""

    def __init__(self, stream: zstandard.ZstdDecompressionReader, side: str) -> None:
        self._stream = stream
        self.side = side

    def read(self, size: int) -> bytes:
        try:
            return self._stream.read(size)
        except zstandard.ZstdError as exc:
            raise _InputFailed(self.side, f"it does not decompress ({exc})") from None


def reconstruct(
    base_path: Path,
    base: Manifest,
    diff_path: Path,
    diff: Manifest,
    dest: Path | None,
    *,
    progress: Progress = no_progress,
    cancel: CancelToken | None = None,
    durable: bool = True,
) -> str:
    """Write the database the differential describes to `dest` (or nowhere, to check);
    return its SHA-256 ("" when it is proven by its content digest instead: one it
    records). Raises CorruptSnapshot (and removes `dest`) on any mismatch."""
    cancel = cancel or CancelToken()
    if diff.base != base.id:
        raise CorruptSnapshot(f"snapshot {diff.id} needs base {diff.base}, not {base.id}")
    # Proven by its content digest when it records one, as a full snapshot's restore is
    # proven (xxh3 of each page, hashed beside the writes); a SHA-256 of every byte
    # rebuilt cost a differential's restore 0.65 s a GiB more than a full's. Else (an
    # older differential, a manifest being re-derived) by its SHA-256.
    by_pages = recorded_digest(diff)
    # A seekable base is read frame by frame (imported here: that module uses this
    # one's readers and verdicts); else, below, as one stream.
    from lifeboat.core.reconstruct_frames import rebuild_on_frames, seekable_base

    frames = seekable_base(base_path, base)
    if frames is not None:
        with frames:
            return rebuild_on_frames(
                frames,
                (base_path, base),
                (diff_path, diff),
                dest,
                by_pages,
                progress,
                cancel,
                durable,
            )
    pages = PageDigest(diff.page_size) if by_pages else None
    writer = BlockWriter(dest, by_pages is None, pages.update if pages else None, durable=durable)
    try:
        header = _merge_inputs(base_path, base, diff_path, diff, writer, progress, cancel)
        written = writer.close()
        digest = pages.hexdigest() if pages is not None else ""
        sha = proven_rebuild(written, writer.plain_hexdigest(), digest, header, diff, by_pages)
    except BaseException:
        _discard(writer, dest)
        raise
    return sha


def _merge_inputs(
    base_path: Path,
    base: Manifest,
    diff_path: Path,
    diff: Manifest,
    writer: BlockWriter,
    progress: Progress,
    cancel: CancelToken,
) -> DiffHeader:
    """Merge the base's pages and the differential's into `writer`, reading both files to
    their end (also after a failure); the differential's header, or the verdict raised."""
    failed: _InputFailed | CorruptSnapshot | None = None
    with (
        open(base_path, "rb", buffering=0) as base_raw,
        open(diff_path, "rb", buffering=0) as diff_raw,
    ):
        # Each input is read and hashed in a thread of its own.
        base_in = ThreadedReader(base_raw, base.size, no_progress, cancel)
        diff_in = ThreadedReader(diff_raw, diff.size, no_progress, cancel)
        try:
            # zstandard asks for file objects: the readers have the read() it uses.
            base_stream = _Input(
                zstandard.ZstdDecompressor().stream_reader(
                    cast(IO[bytes], base_in), read_across_frames=True
                ),
                "base",
            )
            diff_stream = _Input(
                zstandard.ZstdDecompressor().stream_reader(
                    cast(IO[bytes], diff_in), read_across_frames=True
                ),
                "own",
            )
            try:
                header = _header(diff_stream, diff, base)
                _merge(
                    header,
                    base.page_count,
                    base_stream,
                    diff_stream,
                    writer,
                    diff,
                    progress,
                    cancel,
                )
            except (_InputFailed, CorruptSnapshot) as exc:
                failed = exc
            # Both to their end (also after a failure): the hashes say which failed.
            diff_in.drain()
            base_in.drain()
        finally:
            base_in.stop()
            diff_in.stop()
    _blame(base, diff, base_in, diff_in, failed)
    return header


class Hashed(Protocol):
    """What proves a file read whole: how much was read, its SHA-256."""

    count: int

    def hexdigest(self) -> str: ...


def _blame(
    base: Manifest,
    diff: Manifest,
    base_in: Hashed,
    diff_in: ThreadedReader,
    failed: _InputFailed | CorruptSnapshot | None,
) -> None:
    """Raise what failed, naming the file it was: the hashes of both files first."""
    if diff_in.count != diff.size or diff_in.hexdigest() != diff.sha256:
        raise CorruptSnapshot(
            f"snapshot {diff.id}: its file's SHA-256 does not match its manifest", _HINT
        )
    if base_in.count != base.size or base_in.hexdigest() != base.sha256:
        raise BaseUnusable(diff.id, base.id, "its file's SHA-256 does not match its manifest")
    if isinstance(failed, _InputFailed):
        if failed.side == "base":
            raise BaseUnusable(diff.id, base.id, failed.reason)
        raise CorruptSnapshot(f"snapshot {diff.id}: {failed.reason}", _HINT)
    if failed is not None:
        raise failed


def proven_rebuild(
    written: int, sha: str, digest: str, header: DiffHeader, diff: Manifest, by_pages: str | None
) -> str:
    """The rebuilt database (`written` bytes; its SHA-256 and content digest, each "" when
    not taken) proven the differential's: its size, then the content digest it records
    (`by_pages`: then "" is returned), else its db_sha256. Its SHA-256, or ""."""
    if written != header.page_count * header.page_size:
        raise CorruptSnapshot(
            f"snapshot {diff.id} rebuilt to {written} bytes, expected "
            f"{header.page_count * header.page_size}"
        )
    if by_pages is not None:
        if digest != by_pages:
            raise CorruptSnapshot(
                f"snapshot {diff.id}: the rebuilt database's page hashes do not match its manifest",
                _HINT,
            )
        return ""
    if diff.db_sha256 and sha != diff.db_sha256:
        raise CorruptSnapshot(
            f"snapshot {diff.id}: the rebuilt database's SHA-256 does not match its manifest",
            _HINT,
        )
    return sha


def _header(stream: _Input, diff: Manifest, base: Manifest) -> DiffHeader:
    try:
        header = DiffHeader.unpack(_read_exact(stream, HEADER.size))
    except ValueError as exc:
        raise CorruptSnapshot(f"snapshot {diff.id}: {exc}", "use another snapshot") from None
    if header.base_id != base.id or header.base_sha256 != base.sha256:
        raise CorruptSnapshot(
            f"snapshot {diff.id} was taken against another base than "
            f"{base.id} (its manifest may have been edited)",
            "use another snapshot",
        )
    if header.page_size != base.page_size or header.page_count != diff.page_count:
        raise CorruptSnapshot(f"snapshot {diff.id}: its header does not match its manifest")
    return header


def _merge(
    header: DiffHeader,
    base_pages: int,
    base: _Input,
    diff: _Input,
    writer: BlockWriter,
    manifest: Manifest,
    progress: Progress,
    cancel: CancelToken,
) -> None:
    size, count = header.page_size, header.page_count
    base_at = 1  # next base page to be read
    page = 1
    next_changed = _next_record(diff)
    while page <= count:
        if next_changed == page:
            writer.write(_read_exact(diff, size))
            next_changed = _next_record(diff)
            page += 1
            continue
        run_end = min(count, next_changed - 1) if next_changed else count
        if next_changed and next_changed < page:
            raise CorruptSnapshot(f"snapshot {manifest.id}: its pages are out of order")
        if run_end > base_pages:
            raise CorruptSnapshot(
                f"snapshot {manifest.id} lacks page {base_pages + 1}, which its base does not have",
                "use another snapshot",
            )
        if base_at < page:  # skip base pages that changed
            _read_exact(base, (page - base_at) * size, discard=True)
            base_at = page
        left = (run_end - page + 1) * size
        while left:
            chunk = _read_exact(base, min(left, _COPY_BLOCK))
            writer.write(chunk)
            left -= len(chunk)
        base_at = page = run_end + 1
        progress("rebuild", (page - 1) * size, count * size)
        cancel.check()
    if next_changed != 0:
        raise CorruptSnapshot(
            f"snapshot {manifest.id} has pages past its end", "use another snapshot"
        )
    progress("rebuild", count * size, count * size)


def _next_record(diff: _Input) -> int:
    return int(PAGE_NUMBER.unpack(_read_exact(diff, PAGE_NUMBER.size))[0])


def _read_exact(stream: _Input, size: int, discard: bool = False) -> bytes:
    parts: list[bytes] = []
    left = size
    while left:
        chunk = stream.read(min(left, _COPY_BLOCK))
        if not chunk:
            raise _InputFailed(stream.side, "it ends early (truncated)")
        left -= len(chunk)
        if not discard:
            parts.append(chunk)
    return b"".join(parts)


def _discard(writer: BlockWriter, dest: Path | None) -> None:
    with contextlib.suppress(BaseException):
        writer.close()
    if dest is not None:
        with contextlib.suppress(OSError):
            os.unlink(dest)
