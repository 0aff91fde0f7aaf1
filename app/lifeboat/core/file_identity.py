"""A database file's identity: owner, group, mode and extended attributes (ACLs too).

An in-place restore that has to replace the file itself (not write into it) gives the
new file the identity of the one it replaces, so the application that owns the database
can still open it read-write afterwards: a `nobody` 0600 database restored by root stays
`nobody` 0600, not `root:root` with the umask's mode.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from lifeboat.foundation.errors import OperationFailed


@dataclass(frozen=True)
class FileIdentity:
    uid: int
    gid: int
    mode: int  # permission bits (and setgid/sticky), never setuid
    xattrs: tuple[tuple[str, bytes], ...]  # POSIX ACLs live here on Linux


def identity_of(path: Path) -> FileIdentity:
    """The identity of the file at `path` (a link is not followed)."""
    info = os.lstat(path)
    return FileIdentity(
        info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode) & ~stat.S_ISUID, _read_xattrs(path)
    )


def give_identity(fd: int, path: Path, identity: FileIdentity) -> None:
    """Make the new file `path` (open as `fd`) carry `identity`; OperationFailed if the
    owner cannot be kept (then the restore must not go ahead: the app could no longer
    write its own database)."""
    if sys.platform == "win32":  # pragma: no cover - Windows keeps ACLs of the folder
        return
    info = os.fstat(fd)
    if (info.st_uid, info.st_gid) != (identity.uid, identity.gid):
        try:
            os.fchown(fd, identity.uid, identity.gid)
        except PermissionError:
            raise OperationFailed(
                f"cannot give the restored {path.name} its owner back (uid {identity.uid}, "
                f"gid {identity.gid}); nothing was changed",
                "run the restore as the database's owner (or as root)",
            ) from None
    os.fchmod(fd, identity.mode)
    for name, value in identity.xattrs:
        with contextlib.suppress(OSError):  # e.g. security.* that only the kernel sets
            os.setxattr(fd, name, value)


def _read_xattrs(path: Path) -> tuple[tuple[str, bytes], ...]:
    if not hasattr(os, "listxattr"):
        return ()
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return ()
    found = []
    for name in names:
        with contextlib.suppress(OSError):
            found.append((name, os.getxattr(path, name, follow_symlinks=False)))
    return tuple(found)
