"""Writing a point's pages from the threads that make them (direct_rebuild.py).

The base's pool and the images' pool both write to the same new file, never the same
bytes, each in its own threads (pwrite / pwritev release the GIL): the base's around the
page cache where the file system allows (core/direct_writes.py), the segments' images
through it (the check that follows reads the b-trees the commits touched, and reading
them back from the disk cost the 1 GiB bench's restore 0.4 s). Tried and dropped (session 28,
bench/point_phases): handing the pages to one writer thread instead (on Linux a buffered
write holds the file's inode lock, so the pools' writers take turns anyway): it cost
about a fifth more CPU in hand-overs and was no faster.

Errors of the disk are WriteFailed (said as the disk's failure, points.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from lifeboat.core.direct_writes import Buffer, DirectWrites
from lifeboat.core.history.page_writer import WriteFailed


def write_all(out: DirectWrites, data: Buffer, offset: int) -> None:
    """All of `data` at `offset`; its failure is the disk's (WriteFailed)."""
    try:
        out.write(data, offset)
    except OSError as exc:
        raise WriteFailed(exc) from exc


def write_pieces(
    out: DirectWrites, pieces: Sequence[Buffer], offset: int, *, cached: bool = False
) -> None:
    """The pieces one after the other at `offset` (`cached`: through the page cache,
    for pages read back soon); a failure is the disk's."""
    try:
        if cached:
            out.write_cached(pieces, offset)
        else:
            out.write_pieces(pieces, offset)
    except OSError as exc:
        raise WriteFailed(exc) from exc


def close_writes(out: DirectWrites) -> None:
    """Close `out`'s own descriptor; its failure is the disk's (a network file system's
    close reports the file's failed writeback)."""
    try:
        out.close()
    except OSError as exc:
        raise WriteFailed(exc) from exc
