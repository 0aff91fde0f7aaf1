"""A differential rebuilt on a seekable base (format 3) as a full snapshot is restored:
the base's frames decompressed two at a time (core/decompress_frames.py), the
differential's pages laid over them in order.

Reading the base through one zstd stream made restoring a differential ~1.3 times its
full base's restore. Here each frame of the base is decompressed, checked and its pages
hashed by the pool; `DiffOverlay` puts the differential's records (read in order from its
own stream, core/reconstruct.py) in place of the pages they change, hashes those again,
cuts off what lies past the database's end and gives the pages past the base's end.
A differential whose records are out of order, past its end or needing a page its base
lacks is refused as the stream's rebuild refuses it (`own_failure` says the refusal was
this differential's, not its base's).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, cast

import xxhash
import zstandard

from lifeboat.core.decompress import ThreadedReader
from lifeboat.core.decompress_frames import FramesResult, decompress_frames
from lifeboat.core.hashing import sha256_file
from lifeboat.core.manifest import Manifest
from lifeboat.core.pagediff import HASH_SIZE, DiffHeader
from lifeboat.core.reconstruct import (
    _blame,
    _header,
    _Input,
    _InputFailed,
    _next_record,
    _read_exact,
    proven_rebuild,
)
from lifeboat.core.seekable import SeekableArtifact, open_seekable
from lifeboat.foundation.errors import CorruptSnapshot
from lifeboat.foundation.progress import CancelToken, Progress, no_progress


class DiffOverlay:
    """The differential's pages over the base's, frame by frame, in order."""

    def __init__(
        self,
        header: DiffHeader,
        base_pages: int,
        read_page: Callable[[], bytes],
        next_record: Callable[[], int],
        snapshot_id: str,
    ) -> None:
        self._size, self._count = header.page_size, header.page_count
        self._base_pages = base_pages
        self._read_page, self._next_record = read_page, next_record
        self._id = snapshot_id
        self._page = 1  # the first page of the next frame
        self._changed = next_record()  # the next record's page (0: no more)
        self.own_failure = False

    def frame(self, plain: bytes, hashes: bytes | None) -> tuple[bytes, bytes | None]:
        if self._changed > self._count:
            raise self._refused(
                f"snapshot {self._id} has pages past its end", "use another snapshot"
            )
        size, first = self._size, self._page
        pages = len(plain) // size
        self._page += pages
        keep = max(0, min(pages, self._count - first + 1))
        if keep < pages:  # past the database's end (it shrank)
            plain = plain[: keep * size]
            hashes = hashes[: keep * HASH_SIZE] if hashes is not None else None
        last = first + keep - 1
        if not self._changed or self._changed > last:
            return plain, hashes
        # the frame's bytes around the changed pages joined once (views of it, no copy
        # of each part: a frame holding a changed page was copied twice, ~0.1 s a GiB)
        frame, at = memoryview(plain), 0
        parts: list[bytes | memoryview] = []
        hashed = bytearray(hashes) if hashes is not None else None
        while self._changed and self._changed <= last:
            if self._changed < first:
                raise self._refused(f"snapshot {self._id}: its pages are out of order")
            number = self._changed - first
            page = self._read_page()
            parts += (frame[at : number * size], page)
            at = (number + 1) * size
            if hashed is not None:
                hashed[number * HASH_SIZE : (number + 1) * HASH_SIZE] = xxhash.xxh3_128_digest(page)
            self._advance()
        parts.append(frame[at:])
        return b"".join(parts), bytes(hashed) if hashed is not None else None

    def tail(self) -> Iterator[tuple[bytes, bytes | None]]:
        """The pages past the base's end (the database grew): each must be a record."""
        for page in range(self._base_pages + 1, self._count + 1):
            if self._changed != page:
                raise self._refused(
                    f"snapshot {self._id} lacks page {page}, which its base does not have",
                    "use another snapshot",
                )
            image = self._read_page()
            self._advance()
            yield image, xxhash.xxh3_128_digest(image)
        if self._changed != 0:
            raise self._refused(
                f"snapshot {self._id} has pages past its end", "use another snapshot"
            )

    def _advance(self) -> None:
        previous, self._changed = self._changed, self._next_record()
        if self._changed and self._changed <= previous:
            raise self._refused(f"snapshot {self._id}: its pages are out of order")

    def _refused(self, message: str, hint: str | None = None) -> CorruptSnapshot:
        self.own_failure = True
        return CorruptSnapshot(message, hint)


def seekable_base(path: Path, base: Manifest) -> SeekableArtifact | None:
    """The base opened frame by frame, when its frames hold its pages whole (each
    Lifeboat writes does) and its manifest's sizes agree; None: read it as one stream
    (which says what is wrong, if anything is)."""
    size = base.page_size
    if size <= 0 or base.page_count * size != base.db_size:
        return None
    frames = open_seekable(path)
    if frames is None:
        return None
    whole = frames.plain_size == base.db_size and all(
        e.decompressed % size == 0 for e in frames.entries or ()
    )
    if not whole:
        frames.close()
        return None
    return frames


class _Hashed:
    """What the stream's reader tells of a file it hashed: how much, and its SHA-256."""

    def __init__(self, count: int, sha256: str) -> None:
        self.count, self._sha256 = count, sha256

    def hexdigest(self) -> str:
        return self._sha256


def rebuild_on_frames(
    frames: SeekableArtifact,
    base_side: tuple[Path, Manifest],
    diff_side: tuple[Path, Manifest],
    dest: Path | None,
    by_pages: str | None,
    progress: Progress,
    cancel: CancelToken,
    durable: bool,
) -> str:
    """reconstruct() on a seekable base (core/reconstruct_frames.py): the same proofs,
    the same verdicts."""
    (base_path, base), (diff_path, diff) = base_side, diff_side
    if dest is not None and os.path.lexists(dest):
        # (as the stream's rebuild refuses it, before anything: a file there is not ours)
        raise FileExistsError(errno.EEXIST, "a file is already there", str(dest))
    try:
        with open(diff_path, "rb", buffering=0) as diff_raw:
            diff_in = ThreadedReader(diff_raw, diff.size, no_progress, cancel)
            try:
                write = functools.partial(
                    decompress_frames,
                    frames,
                    dest,
                    hash_plain=by_pages is None,
                    progress=progress,
                    cancel=cancel,
                    durable=durable,
                    page_size=diff.page_size if by_pages else 0,
                )
                header, result, failed = _overlaid(diff_in, base, diff, write)
                diff_in.drain()  # to its end (also after a failure): its hash says
            finally:
                diff_in.stop()
        whole = result.sha256 if result is not None else sha256_file(base_path)
        _blame(base, diff, _Hashed(base_path.stat().st_size, whole), diff_in, failed)
        assert result is not None and header is not None  # (a failure raised above)
        return proven_rebuild(
            result.plain_size, result.plain_sha256, result.pages_digest, header, diff, by_pages
        )
    except BaseException as exc:
        # what this call wrote (a file made there meanwhile by another is refused by the
        # exclusive create: FileExistsError, and then left alone)
        if dest is not None and not isinstance(exc, FileExistsError):
            with contextlib.suppress(OSError):
                os.unlink(dest)
        raise


def _overlaid(
    diff_in: ThreadedReader,
    base: Manifest,
    diff: Manifest,
    write: Callable[..., FramesResult],
) -> tuple[DiffHeader | None, FramesResult | None, _InputFailed | CorruptSnapshot | None]:
    """The base's frames written with the differential's pages over them: its header,
    what was written, or what failed (said of the file it was in by _blame)."""
    own = _Input(
        zstandard.ZstdDecompressor().stream_reader(
            cast(IO[bytes], diff_in), read_across_frames=True
        ),
        "own",
    )
    overlay: DiffOverlay | None = None
    header: DiffHeader | None = None
    try:
        header = _header(own, diff, base)
        size = header.page_size
        overlay = DiffOverlay(
            header,
            base.page_count,
            lambda: _read_exact(own, size),
            lambda: _next_record(own),
            diff.id,
        )
        return header, write(overlay=overlay), None
    except _InputFailed as exc:
        return header, None, exc
    except CorruptSnapshot as exc:  # a frame of the base, or the overlay's own refusal
        own_failure = overlay is None or overlay.own_failure
        return header, None, exc if own_failure else _InputFailed("base", exc.message)
