"""Reading SQLite b-tree pages and records from page images (no SQLite library).

Enough of the file format (https://www.sqlite.org/fileformat2.html, section 1.6) to list
a page's cells: a table leaf's rowids and payloads, a table interior page's children and
keys, an index page's records (a WITHOUT ROWID table is an index b-tree: its rows are its
cells, on interior pages too). A payload too large for its page spills into a chain of
overflow pages; a cell gives its local part and the first overflow page.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

TABLE_LEAF = 0x0D
TABLE_INTERIOR = 0x05
INDEX_LEAF = 0x0A
INDEX_INTERIOR = 0x02
INTERIOR = (TABLE_INTERIOR, INDEX_INTERIOR)
INDEX_KINDS = (INDEX_LEAF, INDEX_INTERIOR)
DB_HEADER = 100
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


class PageFormatError(ValueError):
    """A page image is not the b-tree page it should be."""


#: what reading a page that is not the b-tree page it seemed to be raises
MALFORMED = (PageFormatError, IndexError, struct.error)


def varint(data: bytes, at: int) -> tuple[int, int]:
    """The varint at `at` and the offset after it."""
    value = 0
    for i in range(8):
        byte = data[at + i]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, at + i + 1
    return (value << 8) | data[at + 8], at + 9


@dataclass(frozen=True)
class Cell:
    key: int  # the rowid (table pages); 0 on index pages
    child: int  # the left child (interior pages); 0 on leaves
    size: int  # the whole payload's size (0 on table interior pages)
    local: bytes  # the payload's bytes on this page
    overflow: int  # the first overflow page, 0 if none


def kind(image: bytes, number: int) -> int:
    """The page type byte (page 1's header follows the database header)."""
    return image[DB_HEADER if number == 1 else 0]


def cell_count(image: bytes, number: int) -> int:
    return _U16.unpack_from(image, (DB_HEADER if number == 1 else 0) + 3)[0]


def right_child(image: bytes, number: int) -> int:
    return _U32.unpack_from(image, (DB_HEADER if number == 1 else 0) + 8)[0]


def children(image: bytes, number: int) -> list[int]:
    """An interior page's child pages, left to right; [] for any other page."""
    head = DB_HEADER if number == 1 else 0
    if image[head] not in INTERIOR:
        return []
    count = _U16.unpack_from(image, head + 3)[0]
    if head + 12 + 2 * count > len(image):
        return []  # not a b-tree page after all (e.g. a page of pointers)
    # the cell pointers in one call: an interior page has hundreds (a walk's main cost)
    pointers = struct.unpack_from(f">{count}H", image, head + 12)
    if count and max(pointers) + 4 > len(image):
        return []
    found = [_U32.unpack_from(image, at)[0] for at in pointers]
    found.append(_U32.unpack_from(image, head + 8)[0])
    return found


def _local_size(page_kind: int, size: int, usable: int) -> int:
    """How much of a payload of `size` bytes stays on the page (the format's rule)."""
    most = usable - 35 if page_kind == TABLE_LEAF else (usable - 12) * 64 // 255 - 23
    if size <= most:
        return size
    least = (usable - 12) * 32 // 255 - 23
    keep = least + (size - least) % (usable - 4)
    return keep if keep <= most else least


def cells(image: bytes, number: int, usable: int) -> Iterator[Cell]:
    """The cells of b-tree page `number` in order; `usable` is the page size less the
    reserved bytes the database header names."""
    head = DB_HEADER if number == 1 else 0
    page_kind = image[head]
    if page_kind not in (TABLE_LEAF, TABLE_INTERIOR, INDEX_LEAF, INDEX_INTERIOR):
        raise PageFormatError(f"page {number} is not a b-tree page")
    count = _U16.unpack_from(image, head + 3)[0]
    pointers = head + (12 if page_kind in INTERIOR else 8)
    for i in range(count):
        at = _U16.unpack_from(image, pointers + 2 * i)[0]
        if not 0 < at < len(image):
            raise PageFormatError(f"page {number}: a cell lies outside the page")
        child = 0
        if page_kind in INTERIOR:
            child = _U32.unpack_from(image, at)[0]
            at += 4
        if page_kind == TABLE_INTERIOR:
            key, _ = varint(image, at)
            yield Cell(key, child, 0, b"", 0)
            continue
        size, at = varint(image, at)
        key = 0
        if page_kind == TABLE_LEAF:
            key, at = varint(image, at)
        local = _local_size(page_kind, size, usable)
        overflow = _U32.unpack_from(image, at + local)[0] if local < size else 0
        yield Cell(key, child, size, bytes(image[at : at + local]), overflow)


def overflow_next(image: bytes) -> int:
    """The next page of an overflow chain (0: the last)."""
    return _U32.unpack_from(image, 0)[0]


def pointer_map_pages(page_one: bytes, page_count: int) -> set[int]:
    """The pointer-map pages of an auto-vacuum database (none otherwise): page 2, then
    one every usable/5 + 1 pages."""
    if not _U32.unpack_from(page_one, 52)[0]:
        return set()
    return set(range(2, page_count + 1, usable_size(page_one) // 5 + 1))


def usable_size(page_one: bytes) -> int:
    """The usable bytes of each page: the page size less the reserved bytes."""
    size = _U16.unpack_from(page_one, 16)[0]
    return (65536 if size == 1 else size) - page_one[20]


def text_encoding(page_one: bytes) -> str:
    return {2: "utf-16-le", 3: "utf-16-be"}.get(_U32.unpack_from(page_one, 56)[0], "utf-8")


def _field_size(serial: int) -> int:
    if serial >= 12:
        return (serial - 12) // 2
    return (0, 1, 2, 3, 4, 6, 8, 8, 0, 0, 0, 0)[serial]


def record_fields(payload: bytes) -> list[tuple[int, bytes]]:
    """A record's fields as (serial type, body bytes)."""
    header_size, at = varint(payload, 0)
    serials = []
    while at < header_size:
        serial, at = varint(payload, at)
        serials.append(serial)
    fields, body = [], header_size
    for serial in serials:
        size = _field_size(serial)
        fields.append((serial, payload[body : body + size]))
        body += size
    return fields


def field_value(serial: int, data: bytes, encoding: str) -> object:
    """A field as a Python value (text decoded, integers signed)."""
    if serial == 0:
        return None
    if serial in (8, 9):
        return serial - 8
    if serial == 7:
        return struct.unpack(">d", data)[0]
    if serial < 7:
        return int.from_bytes(data, "big", signed=True)
    if serial % 2:
        return data.decode(encoding, errors="replace")
    return bytes(data)
