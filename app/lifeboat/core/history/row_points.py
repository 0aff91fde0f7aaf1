"""One row seen at a point, and carried to the next point without a lookup when the
pages its answer rests on did not change.

A lookup (row_lookup.py) remembers the pages it read: the schema's, the way from the
table's root to the leaf, the row's overflow pages. At a later point, only those of
them that the point rewrote can matter (a commit's written pages, a differential's
page list, the pages whose hashes differ between two full snapshots); if each holds
the same bytes as before (page 1 past its 100-byte file header, which changes with
every write), the row is the same and nothing else is read. Else the row is looked up
again at that point.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

import xxhash
import zstandard

from lifeboat.core.history.btree import DB_HEADER
from lifeboat.core.history.page_reader import BasePages
from lifeboat.core.history.row_lookup import KeySpec, RowRead, read_row
from lifeboat.core.history.tables import Pages
from lifeboat.core.pagediff import HASH_SIZE, HEADER, PAGE_NUMBER
from lifeboat.foundation.errors import CorruptSnapshot


@dataclass(frozen=True)
class Seen:
    read: RowRead
    images: dict[int, bytes]  # the watched pages as they were


def observe(state: Pages, table: str, key: KeySpec) -> Seen:
    """Look the row up in `state`."""
    read = read_row(state, table, key)
    return Seen(read, state.pages(read.watched))


def same_page(number: int, old: bytes | None, new: bytes | None) -> bool:
    if old is None or new is None:
        return old is new
    return old[DB_HEADER:] == new[DB_HEADER:] if number == 1 else old == new


def unchanged(seen: Seen, page_count: int, images: dict[int, bytes]) -> bool:
    """Whether a point whose pages `images` (some of the watched ones, the others not
    rewritten) hold what `seen` read still gives the same row."""
    if page_count < max(seen.read.watched, default=0):
        return False
    return all(same_page(n, seen.images.get(n), images.get(n)) for n in images)


class CommitState:
    """The state after one commit, as far as a new lookup needs it: the pages the commit
    wrote (its own images), else the pages the last lookup read (the commits since did
    not change them), else the whole state (`whole`, built only then)."""

    def __init__(
        self,
        own: dict[int, Callable[[], bytes]],
        known: dict[int, bytes],
        page_count: int,
        whole: Callable[[], Pages],
    ) -> None:
        self.own, self.known, self.page_count = own, known, page_count
        self._whole = whole
        self._state: Pages | None = None

    def pages(self, wanted: Iterable[int], *, interior: bool = False) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        rest = []
        for number in wanted:
            if not 1 <= number <= self.page_count:
                continue
            if number in self.own:
                found[number] = self.own[number]()
            elif number in self.known:
                found[number] = self.known[number]
            else:
                rest.append(number)
        if rest:
            if self._state is None:
                self._state = self._whole()
            found.update(self._state.pages(rest, interior=interior))
        return found


class BaseState:
    """A snapshot's pages (BasePages) as a state to look rows up in."""

    def __init__(self, base: BasePages) -> None:
        self.base = base
        self.page_count = base.count

    def pages(self, wanted: Iterable[int], *, interior: bool = False) -> dict[int, bytes]:
        return self.base.interior(wanted) if interior else self.base.get(wanted)


class PageHashes:
    """A full snapshot's page-hash list (the `.pages` file kept beside it: xxh3-128 of
    each page)."""

    def __init__(self, path: Path) -> None:
        self.data = path.read_bytes()

    def holds(self, number: int, image: bytes) -> bool:
        """Whether page `number` of that snapshot is `image` (by its hash)."""
        known = self.data[(number - 1) * HASH_SIZE : number * HASH_SIZE]
        return len(known) == HASH_SIZE and known == xxhash.xxh3_128_digest(image)


Read = Callable[[set[int]], dict[int, bytes]]


def holds_same(
    seen: Seen,
    page_count: int,
    known: dict[int, bytes],
    hashes: PageHashes | None,
    read: Read,
) -> bool:
    """Whether a snapshot gives the row `seen` holds: each page the lookup read is the
    same there, found among `known` images (a differential's pages), else by the
    snapshot's (or its base's) page hashes, else read with `read`. Page 1 is always
    compared by its bytes past the file header."""
    if page_count < max(seen.read.watched, default=0):
        return False
    pending = set()
    for number in seen.read.watched:
        old = seen.images.get(number)
        if number in known:
            if not same_page(number, old, known[number]):
                return False
        elif number == 1 or old is None or hashes is None or not hashes.holds(number, old):
            pending.add(number)
    if not pending:
        return True
    images = read(pending)
    return all(same_page(n, seen.images.get(n), images.get(n)) for n in pending)


def diff_pages(artifact: Path, page_size: int, keep: set[int]) -> tuple[set[int], dict[int, bytes]]:
    """The pages a differential holds, and the images of those among `keep`, in one
    pass over its stream (nothing else kept)."""
    listed: set[int] = set()
    images: dict[int, bytes] = {}
    with open(artifact, "rb") as raw:
        stream = zstandard.ZstdDecompressor().stream_reader(
            cast(IO[bytes], raw), read_across_frames=True
        )
        _exact(stream, HEADER.size)
        while True:
            number = PAGE_NUMBER.unpack(_exact(stream, PAGE_NUMBER.size))[0]
            if not number:
                return listed, images
            image = _exact(stream, page_size)
            listed.add(number)
            if number in keep:
                images[number] = image


def _exact(stream: zstandard.ZstdDecompressionReader, size: int) -> bytes:
    parts, left = [], size
    try:
        while left:
            chunk = stream.read(left)
            if not chunk:
                raise CorruptSnapshot("a differential ends early", "run `lifeboat verify`")
            parts.append(chunk)
            left -= len(chunk)
    except (zstandard.ZstdError, struct.error) as exc:
        raise CorruptSnapshot(f"a differential does not decompress ({exc})") from None
    return b"".join(parts)
