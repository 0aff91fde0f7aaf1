"""What every store's download shares: the file is created exclusively (0600, never
through a link, never over something there) and removed again unless it was written
whole; and the message for an object that is not there."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from lifeboat.core.private import disk_full, open_new
from lifeboat.core.stores import RemoteNotFound
from lifeboat.foundation.errors import OperationFailed


def not_on_remote(key: str, remote: str) -> RemoteNotFound:
    return RemoteNotFound(
        f"{key} is not on remote {remote}",
        "run `lifeboat catalog rebuild` to see what the remote holds",
    )


def download_into(dest: Path, key: str, write: Callable[[BinaryIO], None]) -> None:
    """Create `dest` and let `write` fill it (it raises if the object did not come out
    whole); then it is flushed to disk. Whatever goes wrong, `dest` is removed (ours,
    created here, and not whole)."""
    try:
        out = open_new(dest)
    except FileExistsError:
        raise OperationFailed(
            f"cannot download {key} to {dest}: something is already there (not overwritten)",
            "move it away and retry",
        ) from None
    except OSError as exc:
        raise OperationFailed(f"cannot create {dest}: {exc.strerror or exc}") from None
    try:
        with out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
    except BaseException as exc:
        with contextlib.suppress(OSError):
            dest.unlink()
        if isinstance(exc, OSError):
            raise _write_failed(dest, exc) from None
        raise


def _write_failed(dest: Path, exc: OSError) -> OperationFailed:
    if disk_full(exc):
        return OperationFailed(
            f"the disk holding {dest} is full; the download stopped",
            "free some space there (or set temp_dir) and retry",
        )
    return OperationFailed(f"cannot write {dest}: {exc.strerror or exc}")
