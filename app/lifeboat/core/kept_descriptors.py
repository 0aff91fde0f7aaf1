"""Descriptors of live database files, kept open: closing one would drop SQLite's locks.

On POSIX, closing any descriptor of a file drops every lock this process holds on it,
SQLite's own included (sqlite.org/howtocorrupt.html 2.2): a backup reading the database
in another thread, or the follower's pinned read, would let another process write or
switch the journal mode under it, while SQLite goes on believing it holds its locks.
So Lifeboat's own reads of a live database file (its header: the journal watch, every
backup's probe; the follower's pages) go through one descriptor per file, kept here:

- `read_start` reads under the module's lock (no descriptor is closed meanwhile);
- `pinned` gives a descriptor to hold (the follower), given back with `unpin`: a pinned
  descriptor is never closed, even once its path names another file (it is retired
  and closed when unpinned: the locks on a replaced file protect nothing any more);
- an unpinned descriptor is closed once its path names another file (or none), found
  when it is read again or when more than `UNPINNED_KEPT` are kept; never while its path
  still names it (see `_evict`).

On Windows a handle's locks are its own: `read_start` opens and closes.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

UNPINNED_KEPT = 64
#: Past this many, the least recently read unpinned descriptors are closed even of files
#: still there, so that a process reading many databases (a test suite, a tray watching
#: hundreds of sources) keeps its descriptors bounded: a database, its -wal and -shm for
#: about 85 sources read in turn stay open.
UNPINNED_LIMIT = 256
Identity = tuple[int, int]  # (st_dev, st_ino)


@dataclass
class _Kept:
    identity: Identity
    fd: int
    pins: int = 0


_kept: OrderedDict[str, _Kept] = OrderedDict()  # path -> the file it named, least recent first
_retired: list[_Kept] = []  # pinned descriptors of files their path no longer names
_lock = threading.Lock()


def _kept_for(path: Path, identity: Identity) -> _Kept:
    """The entry of the file `path` names now (`identity`), made the first time; the
    caller holds `_lock`."""
    key = os.fspath(path)
    kept = _kept.get(key)
    if kept is not None and kept.identity == identity:
        _kept.move_to_end(key)
        return kept
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    fresh = _Kept(identity, os.open(path, flags))
    _kept[key] = fresh
    if kept is not None:
        _let_go(kept)
    _evict()
    return fresh


def _let_go(kept: _Kept) -> None:
    if kept.pins:
        _retired.append(kept)
    else:
        os.close(kept.fd)


def _evict() -> None:
    """Past `UNPINNED_KEPT`, close the least recent unpinned descriptors of files their
    path no longer names (removed or replaced: locks on them protect nothing), but not of
    files still there: another connection of this process may hold SQLite locks on one
    (a `-shm`'s WAL read locks under a snapshot's read transaction), and closing it would
    drop them. Only past `UNPINNED_LIMIT` do the least recent go whatever they are (a
    file not read while ~200 others were is one no connection of ours holds, in practice)."""
    unpinned = [key for key, kept in _kept.items() if not kept.pins]
    for key in unpinned[: max(0, len(unpinned) - UNPINNED_KEPT)]:
        if _still_named(key, _kept[key].identity):
            continue
        os.close(_kept.pop(key).fd)
    unpinned = [key for key, kept in _kept.items() if not kept.pins]
    for key in unpinned[: max(0, len(unpinned) - UNPINNED_LIMIT)]:
        os.close(_kept.pop(key).fd)


def _still_named(path: str, identity: Identity) -> bool:
    try:
        info = os.stat(path)
    except OSError:
        return False
    return (info.st_dev, info.st_ino) == identity


def read_start(path: Path, size: int) -> tuple[bytes, os.stat_result]:
    """The first `size` bytes of the file `path` names now, and its `fstat`."""
    if not hasattr(os, "pread"):
        with open(path, "rb") as fh:
            return fh.read(size), os.fstat(fh.fileno())
    info = os.stat(path)
    with _lock:
        fd = _kept_for(Path(path), (info.st_dev, info.st_ino)).fd
        return os.pread(fd, size, 0), os.fstat(fd)


def pinned(path: Path) -> tuple[int, Identity]:
    """A descriptor of the file `path` names now, and its identity, held until `unpin`
    (never close it)."""
    info = os.stat(path)
    with _lock:
        kept = _kept_for(Path(path), (info.st_dev, info.st_ino))
        kept.pins += 1
        return kept.fd, kept.identity


def unpin(fd: int) -> None:
    """Give back a descriptor `pinned` gave (it stays open unless it was retired)."""
    with _lock:
        for kept in [*_kept.values(), *_retired]:
            if kept.fd == fd and kept.pins:
                kept.pins -= 1
                if not kept.pins and kept in _retired:
                    _retired.remove(kept)
                    os.close(kept.fd)
                return
