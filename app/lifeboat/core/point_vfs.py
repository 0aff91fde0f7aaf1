"""An SQLite VFS (through apsw) whose database file is a backup point's pages.

`open_connection(pages)` gives a read-only apsw connection on a `PointPages`: SQLite asks
the VFS for byte ranges, the VFS answers from `pages.page(n)`. Nothing is ever written:
the connection is opened read-only with `immutable=1` (SQLite then takes no locks and
looks for no journal, `-wal` or `-shm`), temporary storage is kept in memory, and the VFS
refuses to open any file but the point itself and to write, truncate or delete.

Page 1 is presented with its header's file format versions (bytes 18 and 19) set to 1,
rollback-journal mode: a point captured from a WAL database says 2 (WAL) there, which
would make SQLite look for a `-wal`; the point holds every committed page already.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any, cast

import apsw

from lifeboat.core.point_pages import PointPages

VFS_NAME = "lifeboat-point"
_IOCAP_IMMUTABLE = 0x2000
_HEADER_VERSIONS = slice(18, 20)

_lock = threading.Lock()
_files: dict[str, PointPages] = {}
_names = itertools.count(1)
_vfs: _PointVFS | None = None


class _PointFile:
    """One open point (SQLite's sqlite3_file), read-only."""

    def __init__(self, pages: PointPages) -> None:
        self._pages = pages
        self._size = pages.page_size * pages.page_count

    def xRead(self, amount: int, offset: int) -> bytes:
        size = self._pages.page_size
        parts = []
        end = min(offset + amount, self._size)
        at = offset
        while at < end:
            number, within = divmod(at, size)
            page = self._pages.page(number + 1)
            if number == 0 and page[:16] == b"SQLite format 3\x00":
                page = page[:18] + b"\x01\x01" + page[20:]
            take = min(size - within, end - at)
            parts.append(page[within : within + take])
            at += take
        return b"".join(parts)  # short past the end: SQLite fills in zeros

    def xFileSize(self) -> int:
        return self._size

    def xWrite(self, data: bytes, offset: int) -> None:
        raise apsw.ReadOnlyError("a backup point is read-only")

    def xTruncate(self, size: int) -> None:
        raise apsw.ReadOnlyError("a backup point is read-only")

    def xSync(self, flags: int) -> None:
        return None

    def xLock(self, level: int) -> None:
        return None

    def xUnlock(self, level: int) -> None:
        return None

    def xCheckReservedLock(self) -> bool:
        return False

    def xFileControl(self, op: int, pointer: int) -> bool:
        return False

    def xSectorSize(self) -> int:
        return self._pages.page_size

    def xDeviceCharacteristics(self) -> int:
        return _IOCAP_IMMUTABLE

    def xClose(self) -> None:
        return None


class _PointVFS(apsw.VFS):
    def __init__(self) -> None:
        super().__init__(VFS_NAME, "", maxpathname=256)

    def xOpen(self, name: Any, flags: list[int]) -> apsw.VFSFile:
        filename = name.filename() if isinstance(name, apsw.URIFilename) else name
        with _lock:
            pages = _files.get(filename) if isinstance(filename, str) else None
        if pages is None or not flags[0] & apsw.SQLITE_OPEN_MAIN_DB:
            raise apsw.CantOpenError("only a backup point opens here")
        flags[1] = apsw.SQLITE_OPEN_READONLY
        # apsw calls a file's methods by name: a class of its own is a file too.
        return cast(apsw.VFSFile, _PointFile(pages))

    def xAccess(self, pathname: str, flags: int) -> bool:
        return False  # no journal, -wal or -shm beside a point

    def xFullPathname(self, name: str) -> str:
        return name

    def xDelete(self, filename: str, syncdir: bool) -> None:
        raise apsw.ReadOnlyError("a backup point is read-only")


def _registered() -> None:
    global _vfs
    with _lock:
        if _vfs is None:
            _vfs = _PointVFS()


class PointConnection(apsw.Connection):
    """A read-only connection on a point; closing it forgets the point (the point's
    pages are closed by whoever opened them)."""

    point_name: str

    def close(self, force: bool = False) -> None:
        super().close(force)
        with _lock:
            _files.pop(getattr(self, "point_name", ""), None)


def open_connection(pages: PointPages) -> PointConnection:
    """A read-only connection whose database is `pages`."""
    _registered()
    name = f"/lifeboat-point-{next(_names)}"
    with _lock:
        _files[name] = pages
    try:
        conn = PointConnection(
            f"file:{name}?immutable=1",
            flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI,
            vfs=VFS_NAME,
        )
        conn.point_name = name
        conn.execute("pragma temp_store=memory")
    except BaseException:
        with _lock:
            _files.pop(name, None)
        raise
    return conn
