"""A read-only mapping of a file through a descriptor that is never closed for it.

Python's `mmap.mmap` duplicates the descriptor it is given and closes the duplicate with
the mapping; on POSIX, closing any descriptor of a file drops every lock this process
holds on it, SQLite's included (core/kept_descriptors.py). This maps and unmaps with
libc directly, so no descriptor is opened or closed. The converging copy hashes a live
database through it while SQLite's shared lock is held: no copy of the bytes into this
process, the one pass a writer waits for is as short as reading memory.

Only the part of the mapping inside the file may be read: a page past its end faults
(SIGBUS), so callers read what `fstat` says the file holds while nothing can shrink it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_MAP_POPULATE = 0x8000 if sys.platform.startswith("linux") else 0  # read ahead: no faults
_FAILED = ctypes.c_void_p(-1).value


def _libc() -> ctypes.CDLL | None:
    if sys.platform == "win32":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_long,
        ]
        libc.munmap.restype = ctypes.c_int
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _libc()


@contextmanager
def mapped(fd: int, length: int) -> Iterator[memoryview | None]:
    """The first `length` bytes of the file `fd` as a read-only memoryview, or None where
    it cannot be mapped (then read it instead). The view must not outlive the block."""
    if _LIBC is None or length <= 0:
        yield None
        return
    flags = mmap.MAP_SHARED | _MAP_POPULATE
    address = _LIBC.mmap(None, length, mmap.PROT_READ, flags, fd, 0)
    if address is None or address == _FAILED:
        yield None
        return
    view = memoryview((ctypes.c_char * length).from_address(address)).cast("B")
    try:
        yield view
    finally:
        view.release()
        _LIBC.munmap(address, length)
