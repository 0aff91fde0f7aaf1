"""A base's page-ownership file (`<stem>.owners`, docs/FORMAT.md): made from the copy a
full snapshot's check just passed, read by a point restore's check (point_check.py).

It records, for the database the snapshot holds, which b-tree (its root page) or the
freelist or the lock-byte page each page is (page_owners.py), with what binds it to that
database: the snapshot's content digest (the SHA-256 of its pages' xxh3-128 hashes, as
in its manifest), the check that passed on it, and the SHA-256 of page 1's parts that
say what its b-trees are (bytes 100 on: sqlite_schema's root; and the header's fields
other than the change counter, page count, freelist, schema cookie and version
fields). Never the
page itself: the schema's text stays in the artifact (sealed where the source's is).
The file ends with the SHA-256 of all before it: a damaged or foreign file is not used
(the point then gets SQLite's whole check), never an error.

Made only when the walk accounts for every page exactly once (else none is made), and
not for auto-vacuum databases (pointer-map pages) or snapshots kept sealed.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import struct
import sys
from array import array
from dataclasses import dataclass
from pathlib import Path

import zstandard

from lifeboat.core.history.bases import BaseRef
from lifeboat.core.history.page_owners import (
    UNSEEN,
    OwnerMap,
    PageFile,
    WalkFailed,
    claim_freelist,
    claim_lock_page,
    claim_trees,
    tree_roots,
)
from lifeboat.core.manifest import OWNERS_SUFFIX as OWNERS_SUFFIX  # re-exported
from lifeboat.core.page_digest import CONTENT_DIGEST
from lifeboat.core.sqlite_file import file_uri

_MAGIC = b"LBOWNRS1"
_HEAD = struct.Struct(">8sHII8s32s32sI")  # magic, version, page size, count, mode, ...
_VERSION = 1
#: header bytes that may differ between two states of the same b-trees: file change
#: counter (24-27), page count (28-31), freelist (32-39), version-valid-for and SQLite
#: version (92-99); and what a snapshot rewrites in its copy (core/wal_direct.
#: standalone_header): the journal mode bytes (18-19) and the schema cookie (40-43), a
#: counter that says the schema may have changed (the schema itself is sqlite_schema's
#: b-tree: the rest of page 1, and its other pages, which a point must not rewrite).
_FREE_HEADER_BYTES = (range(18, 20), range(24, 44), range(92, 100))


@dataclass(frozen=True)
class BaseOwners:
    """A base's page owners, as read back (and proven whole) from its file."""

    page_size: int
    page_count: int
    check_mode: str
    content_digest: str
    layout_digest: bytes
    owner: array  # array("I"), index 0 unused


def layout_digest(page1: bytes) -> bytes:
    """SHA-256 of page 1 without the header bytes that may change while every b-tree,
    sqlite_schema's included, stays what it was."""
    kept = bytearray(page1)
    for span in _FREE_HEADER_BYTES:
        for at in span:
            kept[at] = 0
    return hashlib.sha256(bytes(kept)).digest()


def database_owners(path: Path) -> tuple[array, bytes] | None:
    """(owner of each page, page 1) of the database file at `path` (checked, quiet: a
    snapshot's copy); None if it is auto-vacuum or the walk does not account for every
    page exactly once."""
    # Quoted: the copy's folder is under the temp folder the user may choose, and a `#`,
    # `?` or `%` there would otherwise name another file, created if missing.
    try:
        conn = sqlite3.connect(file_uri(path, mode="ro"), uri=True)
    except sqlite3.Error:  # no owners: never the backup's failure
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        conn.close()
        raise
    try:
        head = os.pread(fd, 100, 0)
        page_size = _page_size(head)
        count = os.fstat(fd).st_size // page_size
        if len(head) < 100 or struct.unpack_from(">I", head, 52)[0] or count < 1:
            return None  # auto-vacuum: pointer-map pages
        pages = PageFile(fd, page_size, count, head[20])
        owners = OwnerMap(count)
        claim_lock_page(pages, owners)
        claim_freelist(pages, head, owners)
        claim_trees(conn, tree_roots(conn), owners, None)
        if UNSEEN in owners.owner[1:]:
            return None
        return owners.owner, pages.read(1)
    except (WalkFailed, sqlite3.Error):  # no owners: never the backup's failure
        return None
    finally:
        os.close(fd)
        conn.close()


def _page_size(head: bytes) -> int:
    (size,) = struct.unpack_from(">H", head, 16)
    return 65536 if size == 1 else size


def owners_bytes(owner: array, page1: bytes, check_mode: str, content_digest: str) -> bytes:
    """The file's bytes (docs/FORMAT.md: Page owners)."""
    plain = array("I", owner[1:])
    if plain.itemsize != 4:
        raise ValueError("array('I') is not 4 bytes here")
    if sys.byteorder == "little":
        plain.byteswap()
    body = zstandard.ZstdCompressor(level=3).compress(plain.tobytes())
    head = _HEAD.pack(
        _MAGIC,
        _VERSION,
        len(page1),
        len(owner) - 1,
        check_mode.encode().ljust(8, b"\0"),
        bytes.fromhex(content_digest),
        layout_digest(page1),
        len(body),
    )
    data = head + body
    return data + hashlib.sha256(data).digest()


def read_owners(path: Path) -> BaseOwners | None:
    """The owners file at `path`, or None if it is missing, damaged or not one."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if len(data) < _HEAD.size + 32 or hashlib.sha256(data[:-32]).digest() != data[-32:]:
        return None
    magic, version, size, count, mode, digest, layout, body_size = _HEAD.unpack_from(data)
    if magic != _MAGIC or version != _VERSION or _HEAD.size + body_size + 32 != len(data):
        return None
    try:
        plain = zstandard.ZstdDecompressor().decompress(
            data[_HEAD.size : _HEAD.size + body_size], max_output_size=4 * count
        )
    except zstandard.ZstdError:
        return None
    if len(plain) != 4 * count:
        return None
    owner = array("I")
    owner.frombytes(plain)
    if sys.byteorder == "little":
        owner.byteswap()
    owner.insert(0, UNSEEN)  # as OwnerMap has it: pages are numbered from 1
    return BaseOwners(size, count, mode.rstrip(b"\0").decode(), digest.hex(), layout, owner)


def owners_path(folder: Path, stem: str) -> Path:
    return Path(folder) / f"{stem}{OWNERS_SUFFIX}"


def base_owners(base: BaseRef) -> BaseOwners | None:
    """The page owners of a full base, from the file beside it, if it is there, whole,
    and made of this very database (its content digest); else None."""
    manifest = base.manifest
    if manifest.kind != "full":
        return None
    found = read_owners(owners_path(base.folder, manifest.stem))
    digest = manifest.extra.get(CONTENT_DIGEST)
    if found is None or not digest or found.content_digest != digest:
        return None
    if found.page_size != manifest.page_size or found.page_count != manifest.page_count:
        return None
    return found


def owners_match(base: BaseRef, database: Path) -> bool | None:
    """Whether the base's owners file (None: it has none) is whole, its own, and says
    what a fresh walk of `database` (the base's database, just checked) says:
    `lifeboat verify` reports one that is not (point restores then take SQLite's whole
    check: nothing is at risk, only their speed)."""
    if not owners_path(base.folder, base.manifest.stem).exists():
        return None
    found = base_owners(base)
    fresh = database_owners(database)
    if found is None or fresh is None:
        return False
    owner, page1 = fresh
    return found.owner[1:] == owner[1:] and found.layout_digest == layout_digest(page1)
