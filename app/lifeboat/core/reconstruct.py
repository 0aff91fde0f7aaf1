"""Rebuild a database from a full base and a differential, checked bit for bit.

Both artifacts are read once, in order, through zstd streams whose compressed bytes are
hashed on the way (each must match its manifest's SHA-256); runs of unchanged pages are
copied from the base in large blocks, changed pages from the differential; the output's
SHA-256 must equal the differential's `db_sha256`. Memory stays bounded.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import zstandard

from lifeboat.core.decompress import BlockWriter, ThreadedReader
from lifeboat.core.manifest import Manifest
from lifeboat.core.pagediff import HEADER, PAGE_NUMBER, DiffHeader
from lifeboat.foundation.errors import CorruptSnapshot
from lifeboat.foundation.progress import CancelToken, Progress, no_progress

_COPY_BLOCK = 4 << 20


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
    return its SHA-256. Raises CorruptSnapshot (and removes `dest`) on any mismatch."""
    cancel = cancel or CancelToken()
    if diff.base != base.id:
        raise CorruptSnapshot(f"snapshot {diff.id} needs base {diff.base}, not {base.id}")
    writer = BlockWriter(dest, True, None, durable=durable)
    try:
        with (
            open(base_path, "rb", buffering=0) as base_raw,
            open(diff_path, "rb", buffering=0) as diff_raw,
        ):
            # Each input is read and hashed in a thread of its own.
            base_in = ThreadedReader(base_raw, base.size, no_progress, cancel)
            diff_in = ThreadedReader(diff_raw, diff.size, no_progress, cancel)
            try:
                base_stream = zstandard.ZstdDecompressor().stream_reader(base_in)
                diff_stream = zstandard.ZstdDecompressor().stream_reader(diff_in)
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
                base_in.drain()
                diff_in.drain()
            finally:
                base_in.stop()
                diff_in.stop()
        written = writer.close()
        _check(base_in, base, "base")
        _check(diff_in, diff, "differential")
        if written != header.page_count * header.page_size:
            raise CorruptSnapshot(
                f"snapshot {diff.id} rebuilt to {written} bytes, expected "
                f"{header.page_count * header.page_size}"
            )
        sha = writer.plain_hexdigest()
        if diff.db_sha256 and sha != diff.db_sha256:
            raise CorruptSnapshot(
                f"snapshot {diff.id}: the rebuilt database's SHA-256 does not match its manifest",
                "use another snapshot",
            )
    except zstandard.ZstdError as exc:
        _discard(writer, dest)
        raise CorruptSnapshot(
            f"snapshot {diff.id} or its base does not decompress: {exc}", "use another snapshot"
        ) from None
    except BaseException:
        _discard(writer, dest)
        raise
    return sha


def _header(stream: object, diff: Manifest, base: Manifest) -> DiffHeader:
    try:
        header = DiffHeader.unpack(_read_exact(stream, HEADER.size, diff))
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
    base: object,
    diff: object,
    writer: BlockWriter,
    manifest: Manifest,
    progress: Progress,
    cancel: CancelToken,
) -> None:
    size, count = header.page_size, header.page_count
    base_at = 1  # next base page to be read
    page = 1
    next_changed = _next_record(diff, manifest)
    while page <= count:
        if next_changed == page:
            writer.write(_read_exact(diff, size, manifest))
            next_changed = _next_record(diff, manifest)
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
            _read_exact(base, (page - base_at) * size, manifest, discard=True)
            base_at = page
        left = (run_end - page + 1) * size
        while left:
            chunk = _read_exact(base, min(left, _COPY_BLOCK), manifest)
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


def _next_record(diff: object, manifest: Manifest) -> int:
    return int(PAGE_NUMBER.unpack(_read_exact(diff, PAGE_NUMBER.size, manifest))[0])


def _read_exact(stream: object, size: int, manifest: Manifest, discard: bool = False) -> bytes:
    parts: list[bytes] = []
    left = size
    while left:
        chunk = stream.read(min(left, _COPY_BLOCK))  # type: ignore[attr-defined]
        if not chunk:
            raise CorruptSnapshot(
                f"snapshot {manifest.id} or its base is truncated", "use another snapshot"
            )
        left -= len(chunk)
        if not discard:
            parts.append(chunk)
    return b"".join(parts)


def _check(source: ThreadedReader, manifest: Manifest, what: str) -> None:
    if source.count != manifest.size or source.hexdigest() != manifest.sha256:
        raise CorruptSnapshot(
            f"the {what} snapshot {manifest.id} is damaged (SHA-256 does not match its manifest)",
            "use another snapshot",
        )


def _discard(writer: BlockWriter, dest: Path | None) -> None:
    with contextlib.suppress(BaseException):
        writer.close()
    if dest is not None:
        with contextlib.suppress(OSError):
            os.unlink(dest)
