"""A chain's base: the snapshot it starts from, its page hashes and its pages in order.

Today's artifacts: a full `.sqlite.zst` (one zstd frame; its `.pages` list gives the page
hashes without reading it), or a differential, rebuilt through core/reconstruct into the
run's scratch folder. Sealed (age) bases are for phase 2 (the integration).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

import zstandard

from lifeboat.core.hashing import sha256_file
from lifeboat.core.history.pagestate import PageState, page_hash
from lifeboat.core.history.seekable_blocks import HashAside, seekable_blocks
from lifeboat.core.manifest import PAGES_SUFFIX, Manifest, read_manifest
from lifeboat.core.reconstruct import reconstruct
from lifeboat.core.runs import Run
from lifeboat.core.seekable import open_seekable
from lifeboat.foundation.errors import CorruptSnapshot, MissingArtifact

_BLOCK_PAGES = 256
_READ_SIZE = 8 << 20
_AHEAD = 16  # blocks decompressed ahead (16 MiB): the reader may be busy elsewhere


@dataclass(frozen=True)
class BaseRef:
    """A snapshot (full or differential) in `folder`, as a chain's base."""

    manifest: Manifest
    folder: Path
    #: a differential's own base (required to read a differential)
    parent: BaseRef | None = None

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def artifact(self) -> Path:
        return self.folder / self.manifest.artifact

    @property
    def pages_file(self) -> Path:
        return self.folder / f"{self.manifest.stem}{PAGES_SUFFIX}"

    @classmethod
    def load(cls, folder: Path, stem: str) -> BaseRef:
        return cls(read_manifest(Path(folder) / f"{stem}.json"), Path(folder))


def base_state(base: BaseRef, run: Run, scratch: Path) -> PageState:
    """The page hashes of the base's database: its `.pages` list when it is there and
    matches its manifest, else computed from its pages."""
    manifest = base.manifest
    if (
        manifest.kind == "full"
        and manifest.pages_sha256
        and base.pages_file.exists()
        and sha256_file(base.pages_file) == manifest.pages_sha256
    ):
        return PageState.from_pages_file(base.pages_file, manifest.page_size, manifest.page_count)
    hashes = bytearray()
    count = 0
    with base_pages(base, run, scratch) as pages:
        for page in pages:
            hashes += page_hash(page)
            count += 1
    return PageState(manifest.page_size, hashes, count)


@contextlib.contextmanager
def base_pages(base: BaseRef, run: Run, scratch: Path) -> Iterator[Iterator[memoryview]]:
    """The base database's pages in order (page 1 first), checked against the base's
    SHA-256 by the time the last one is read."""
    size = base.manifest.page_size
    with base_blocks(base, run, scratch) as blocks:
        yield (view[at : at + size] for view in blocks for at in range(0, len(view), size))


class BaseBlocks:
    """The base's blocks in order (an iterator), and whether the next one is still being
    decompressed (`pending`: the reader may do other work meanwhile)."""

    def __init__(self, blocks: Iterator[memoryview], ahead: _ReadAhead | None = None) -> None:
        self._blocks = blocks
        self._ahead = ahead

    def __iter__(self) -> BaseBlocks:
        return self

    def __next__(self) -> memoryview:
        return next(self._blocks)

    def pending(self) -> bool:
        return self._ahead is not None and self._ahead.empty()


@contextlib.contextmanager
def base_blocks(base: BaseRef, run: Run, scratch: Path) -> Iterator[BaseBlocks]:
    """The base database in blocks of whole pages (about 1 MiB), in order, read and
    decompressed ahead in a thread of their own; checked against the base's SHA-256 by
    the time the last block is read."""
    manifest = base.manifest
    if manifest.kind == "full":
        seekable = open_seekable(base.artifact, cache_frames=1)
        if seekable is not None:  # frames decompressed two at a time (seekable_blocks.py)
            with seekable, seekable_blocks(seekable, manifest) as blocks:
                yield BaseBlocks(blocks)
            return
        ahead = _ReadAhead(_full_blocks(base.artifact, manifest))
        try:
            yield BaseBlocks(iter(ahead), ahead)
        finally:
            ahead.stop()
        return
    if manifest.kind != "diff" or base.parent is None:
        raise MissingArtifact(f"snapshot {manifest.id} cannot serve as a base here")
    rebuilt = run.work_path(scratch, "base.sqlite")
    try:
        reconstruct(
            base.parent.artifact,
            base.parent.manifest,
            base.artifact,
            manifest,
            rebuilt,
            durable=False,
        )
        yield BaseBlocks(_file_blocks(rebuilt, manifest.page_size))
    finally:
        with contextlib.suppress(OSError):
            os.unlink(rebuilt)


class _ReadAhead:
    """Runs a generator in a thread, a few items ahead; its error is raised here."""

    _END = object()

    def __init__(self, source: Generator[memoryview, None, None]) -> None:
        self._source = source
        self._queue: queue.Queue[object] = queue.Queue(_AHEAD)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lifeboat-base", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
                    return
            self._put(self._END)
        except BaseException as exc:  # handed to the reader, raised there
            self._put(exc)
        finally:
            self._source.close()  # its files, in the thread that ran it

    def _put(self, item: object) -> bool:
        while not self._stopped.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[memoryview]:
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield cast(memoryview, item)

    def empty(self) -> bool:
        return self._queue.empty()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)


def _full_blocks(artifact: Path, manifest: Manifest) -> Generator[memoryview, None, None]:
    size = manifest.page_size
    digest = HashAside()

    class _Hashing:
        def __init__(self, raw: IO[bytes]) -> None:
            self._raw = raw

        def read(self, n: int = -1) -> bytes:
            data = self._raw.read(n)
            digest.update(data)
            return data

    try:
        with open(artifact, "rb") as raw:
            hashing = _Hashing(raw)
            reader = zstandard.ZstdDecompressor().stream_reader(
                cast(IO[bytes], hashing), read_size=_READ_SIZE, read_across_frames=True
            )
            count = 0
            while True:
                block = _read_full(reader, size * _BLOCK_PAGES)
                whole = len(block) // size * size
                if not whole:
                    break
                count += whole // size
                yield memoryview(block)[:whole]
            while rest := raw.read(_READ_SIZE):  # what follows the frame counts too
                digest.update(rest)
        matches = digest.hexdigest() == manifest.sha256
    finally:
        digest.close()
    if not matches or count != manifest.page_count:
        raise CorruptSnapshot(
            f"snapshot {manifest.id}: its file does not match its manifest",
            "use another snapshot",
        )


def _read_full(reader: zstandard.ZstdDecompressionReader, size: int) -> bytes:
    parts = []
    left = size
    while left:
        try:
            chunk = reader.read(left)
        except zstandard.ZstdError as exc:
            raise CorruptSnapshot(f"a base does not decompress ({exc})") from None
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _file_blocks(path: Path, size: int) -> Iterator[memoryview]:
    with open(path, "rb") as fh:
        while block := fh.read(size * _BLOCK_PAGES):
            whole = len(block) // size * size
            if whole:
                yield memoryview(block)[:whole]
