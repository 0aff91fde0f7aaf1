"""Where a b-tree cell's overflow chain starts and how long it is, for many cells at
once, computed as SQLite's btreeParseCellPtr / btreeParseCellPtrIndex and
btreeParseCellAdjustSizeForOverflow compute it (tree_pages.py walks with it).

A cell with a payload starts (after a 4-byte child, in an index interior page) with the
payload's size, a varint; a table leaf's cell then has its rowid, a varint of up to 9
bytes; the payload follows. SQLite reads the size's varint 7 bits a byte, at most 9
bytes, into 32 bits: sizes are taken here only when their varint is at most 8 bytes
and the size below 2**31 (any larger is no real row's, and SQLite's 32-bit wrap is not
reproduced: WalkFailed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lifeboat.core.history.page_owners import WalkFailed

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from lifeboat.core.history.tree_pages import TreeFile

    Numbers = NDArray[np.int64]
    Bytes = NDArray[np.uint8]

_MOST_SIZE = (1 << 31) - 1


def overflow_of_cells(
    file: TreeFile, data: Bytes, rows: Numbers, payload_at: Numbers, table_leaf: bool
) -> tuple[Numbers, Numbers]:
    """(first overflow page, chain length) of each cell whose payload overflows, of the
    cells starting their payload-size varint at column `payload_at` of rows `rows` of
    `data` (pages of one kind: table leaves if `table_leaf`, else index pages)."""
    import numpy as np

    size, size_length = _varints(data, rows, payload_at)
    if (size_length > 8).any() or (size > _MOST_SIZE).any():
        raise WalkFailed("a cell's payload size is not a real row's")
    most = file.max_local_leaf if table_leaf else file.max_local_index
    spills = size > most
    if not spills.any():
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    rows, size = rows[spills], size[spills]
    start = payload_at[spills] + size_length[spills]
    if table_leaf:  # the rowid's varint comes before the payload
        _, key_length = _varints(data, rows, start)
        start = start + key_length
    least = file.min_local
    surplus = least + (size - least) % (file.usable - 4)
    local = np.where(surplus <= most, surplus, least)
    pointer_at = start + local
    if (pointer_at + 4 > file.usable).any():
        raise WalkFailed("a cell's overflow pointer is past its page's end")
    head = np.zeros(len(rows), dtype=np.int64)
    for k in range(4):
        head = (head << 8) | data[rows, pointer_at + k]
    if (head == 0).any():
        raise WalkFailed("a cell's overflow chain starts at page 0")
    return head, (size - local + file.usable - 5) // (file.usable - 4)


def _varints(data: Bytes, rows: Numbers, at: Numbers) -> tuple[Numbers, Numbers]:
    """(value, length in bytes) of the varints at column `at` of rows `rows` (SQLite's
    format: 7 bits a byte while the high bit is set, the 9th byte whole)."""
    import numpy as np

    last = data.shape[1] - 1
    value = np.zeros(len(rows), dtype=np.int64)
    length = np.zeros(len(rows), dtype=np.int64)
    going = np.ones(len(rows), dtype=bool)
    for k in range(9):
        byte = data[rows, np.minimum(at + k, last)].astype(np.int64)
        if k < 8:
            value = np.where(going, (value << 7) | (byte & 0x7F), value)
        else:
            value = np.where(going, (value << 8) | byte, value)
        length += going
        going &= byte >= 0x80
        if not going.any():
            break
    if ((at + length - 1) > last).any():
        raise WalkFailed("a cell's varint runs past its page's end")
    return value, length
