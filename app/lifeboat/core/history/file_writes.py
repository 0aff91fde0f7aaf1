"""Writing a point's pages from the threads that make them (direct_rebuild.py).

The base's pool and the images' pool both write to the same new file, never the same
bytes, each in its own threads (pwrite / pwritev release the GIL). Tried and dropped
(session 28, bench/point_phases): handing the pages to one writer thread instead (on
Linux a buffered write holds the file's inode lock, so the pools' writers take turns
anyway): it cost about a fifth more CPU in hand-overs and was no faster.

Errors of the disk are WriteFailed (said as the disk's failure, points.py).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from lifeboat.core.history.page_writer import WriteFailed

Buffer = bytes | bytearray | memoryview


def write_all(fd: int, data: Buffer, offset: int) -> None:
    """pwrite all of `data` at `offset`; its failure is the disk's (WriteFailed)."""
    view = memoryview(data)
    try:
        while view:
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written
    except OSError as exc:
        raise WriteFailed(exc) from exc


def write_pieces(fd: int, pieces: Sequence[Buffer], offset: int) -> None:
    """The pieces one after the other at `offset`, in one pwritev when it writes them
    all (it does on a local file unless the disk fails)."""
    if len(pieces) == 1:
        write_all(fd, pieces[0], offset)
        return
    try:
        written = os.pwritev(fd, pieces, offset)
    except OSError as exc:
        raise WriteFailed(exc) from exc
    for piece in pieces:
        if written >= len(piece):
            written -= len(piece)
        else:
            write_all(fd, memoryview(piece)[written:], offset + written)
            written = 0
        offset += len(piece)
