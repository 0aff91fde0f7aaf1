"""Files and folders only this user can read, created exclusively, never through a link.

Every file Lifeboat creates goes through `create_file` (or a helper built on it): the
name must not exist yet (O_EXCL), a symbolic link planted at that name is never followed
(O_NOFOLLOW), and the mode is set to 0600 explicitly, whatever the umask. Lifeboat's own
folders are 0700 (`private_dir`); a folder the user chose (a snapshot root given with
--dest, the folder of a database) is created 0700 when Lifeboat creates it and otherwise
left as the user set it. See docs/SAFETY.md.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import sqlite3
import stat
import sys
from pathlib import Path
from typing import BinaryIO

from lifeboat.foundation.errors import LifeboatError, OperationFailed

FILE_MODE = 0o600
DIR_MODE = 0o700
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)
#: the longest file name most file systems take (ext4, APFS, NTFS: 255)
NAME_MAX = 255


def private_dir(path: Path, what: str) -> Path:
    """Lifeboat's own folder: created (with its missing parents) as 0700, made 0700 if it
    exists with wider rights, refused if it is a symbolic link, not a folder, or
    another user's."""
    path = Path(path)
    _make_dirs(path, what)
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise _folder_error(path, what, exc) from None
    if stat.S_ISLNK(info.st_mode):
        raise LifeboatError(
            f"{what} {path} is a symbolic link; Lifeboat does not follow links in its own folders",
            "remove the link (or point Lifeboat elsewhere) and retry",
        )
    if not stat.S_ISDIR(info.st_mode):
        raise LifeboatError(f"{what} {path} is not a folder", "move that file away and retry")
    if sys.platform != "win32" and info.st_uid != os.geteuid():
        # Made by another user (before us, in a shared folder, say): that user could
        # delete or swap what Lifeboat keeps there.
        raise LifeboatError(
            f"{what} {path} belongs to another user (uid {info.st_uid}); Lifeboat keeps its "
            "files only in folders of its own",
            "remove that folder (or choose another place), then retry",
        )
    if sys.platform != "win32" and stat.S_IMODE(info.st_mode) != DIR_MODE:
        try:
            os.chmod(path, DIR_MODE, follow_symlinks=False)
        except OSError as exc:
            raise _folder_error(path, what, exc) from None
    _check_writable(path, what)
    return path


def user_dir(path: Path, what: str) -> Path:
    """A folder the user chose: created as 0700 (with parents) if it is missing, else left
    as it is; it must be a folder we can write into."""
    path = Path(path)
    _make_dirs(path, what)
    if not path.is_dir():
        raise LifeboatError(f"{what} {path} is not a folder", "choose a folder")
    _check_writable(path, what)
    return path


def create_file(path: Path, mode: int = FILE_MODE, *, readable: bool = False) -> int:
    """Create `path`, which must not exist, for writing (and reading, if `readable`);
    return its descriptor.

    Never follows a symbolic link at `path` and sets `mode` exactly (not through the
    umask). Raises FileExistsError if anything (a link included) is already there."""
    access = os.O_RDWR if readable else os.O_WRONLY
    fd = os.open(path, access | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | _BINARY, mode)
    try:
        if sys.platform != "win32":
            os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    return fd


def open_new(path: Path, mode: int = FILE_MODE, buffering: int = -1) -> BinaryIO:
    """`create_file` as a binary file object (like open(path, "xb"), but private)."""
    fd = create_file(path, mode)
    return os.fdopen(fd, "wb", buffering=buffering)


def write_new(path: Path, data: bytes, mode: int = FILE_MODE) -> None:
    """Create `path` (must not exist) holding `data`, fsynced."""
    try:
        with open_new(path, mode) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise


def replace_file(path: Path, data: bytes, mode: int = FILE_MODE) -> None:
    """Put `data` at `path` (replacing a file, or a link, never writing through one) by
    writing a new file under a unique name beside it and renaming it over `path`. For
    small files outside a run (a pid file, a login item); work of a run uses
    fsutil.atomic_write_bytes."""
    tmp = Path(path).with_name(f".{Path(path).name}.{secrets.token_hex(6)}.new")
    try:
        write_new(tmp, data, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def make_new_dir(path: Path) -> None:
    """Create the folder `path` (must not exist) as 0700."""
    os.mkdir(path, DIR_MODE)
    if sys.platform != "win32":
        os.chmod(path, DIR_MODE, follow_symlinks=False)


def tighten(path: Path, mode: int = FILE_MODE) -> None:
    """Give a file of ours made by an older Lifeboat (or before umask was ignored) the
    private mode; left alone if it is a link or somebody else's."""
    if sys.platform == "win32":
        return
    with contextlib.suppress(OSError):
        info = os.lstat(path)
        if (
            not stat.S_ISLNK(info.st_mode)
            and info.st_uid == os.geteuid()
            and stat.S_IMODE(info.st_mode) != mode
        ):
            os.chmod(path, mode, follow_symlinks=False)


def is_link(path: Path) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return False


def name_fits(folder: Path, name: str) -> bool:
    """Whether a file called `name` can be created in `folder` (its length)."""
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX") if hasattr(os, "pathconf") else NAME_MAX
    except (OSError, ValueError):
        limit = NAME_MAX
    return len(os.fsencode(name)) <= limit


def disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1))


def disk_full_error(exc: BaseException) -> OperationFailed | None:
    """The one-line error for a full disk (or a used-up quota) that reached the top
    without a more specific message; None if `exc` is about something else."""
    if disk_full(exc):
        assert isinstance(exc, OSError)
        why = "quota is used up" if exc.errno == getattr(errno, "EDQUOT", -1) else "is full"
        where = (
            f"the disk holding {os.fsdecode(exc.filename)}"
            if exc.filename
            else "a disk Lifeboat writes to"
        )
        return OperationFailed(f"{where} {why}", "free some space there, then retry")
    if (
        isinstance(exc, sqlite3.Error)
        and ((getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF) == sqlite3.SQLITE_FULL
    ):
        return OperationFailed(
            f"a disk Lifeboat writes to is full ({exc})", "free some space there, then retry"
        )
    return None


def unwritten_error(exc: OSError, folder: Path, what: str) -> OperationFailed | None:
    """The one-line error for `what`, which could not be written into `folder` because
    its disk said no: full (ENOSPC, EDQUOT: often reported only by the fsync, on a
    thin or network volume that looked roomy) or failing (EIO, EROFS: a disk unplugged
    or going bad). None for any other error (a bug or a refusal, said by the caller)."""
    where = os.fsdecode(folder)
    if disk_full(exc):
        return OperationFailed(
            f"the disk holding {where} is full: {what} could not be written there and was not kept",
            "free some space there (or write somewhere else), then retry",
        )
    if exc.errno in (errno.EIO, errno.EROFS):
        said = "an input/output error" if exc.errno == errno.EIO else "that it is read-only"
        return OperationFailed(
            f"the disk holding {where} reported {said}: {what} could not be written there "
            "and was not kept",
            "check that disk (it may be failing or unplugged), or write somewhere else, then retry",
        )
    return None


def _make_dirs(path: Path, what: str) -> None:
    missing: list[Path] = []
    probe = path
    while not os.path.lexists(probe) and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            make_new_dir(folder)
        except FileExistsError:
            continue  # made meanwhile by another process
        except OSError as exc:
            raise _folder_error(folder, what, exc) from None


def _check_writable(path: Path, what: str) -> None:
    if not os.access(path, os.W_OK | os.X_OK):
        raise LifeboatError(f"{what} {path} is not writable", "choose a folder you can write to")


def _folder_error(path: Path, what: str, exc: OSError) -> LifeboatError:
    if disk_full(exc):
        return OperationFailed(
            f"the disk holding {path} is full, so the {what} cannot be created",
            "free some space there and retry",
        )
    return LifeboatError(
        f"cannot create {what} {path}: {exc.strerror or exc}", "choose a folder you can write to"
    )
