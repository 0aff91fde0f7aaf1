"""Segments kept sealed (age) on this computer, for a source whose snapshots are.

A sealed segment is the segment file's age ciphertext, `<stem>.seg.zst.age`, sealed to
the recipients the source's snapshots are sealed to (the config's public keys: sealing
needs no secret). It is written through `SealingWriter`: the segment's bytes go through
a pipe to the age encryption and only ciphertext reaches the disk.

Reading one needs the identities the service holds (the keyring's): `use_keys` gives
them to this process once. A small segment is opened in memory; a larger one is
decrypted into a file of the run's scratch folder whose name is removed at once (the
descriptor stays open), so nothing decrypted outlives the reader, even a kill -9 (the
run's scratch folder is swept at the next start for the instant between the two).

Listing a folder does not decrypt: a sealed segment has a manifest beside it (chain.py)
that says what a listing needs, in clear, as a snapshot's manifest does (times, sizes,
commit counts and the gap and merged marks, never a page).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lifeboat.core.encryption import MissingIdentity
from lifeboat.core.private import create_file
from lifeboat.core.runs import Run

SEALED_SUFFIX = ".age"
#: sealed segments up to this size (ciphertext) are opened in memory: level-0 ones (a
#: few KiB each, compacted 60 at a time); a rebuild holds every segment of a chain open
#: at once, so larger ones go to the scratch file (the page cache, not this process)
IN_MEMORY = 1 << 20
_PIPE_BUFFER = 1 << 16


class SealedUnreadable(ValueError):
    """A sealed segment fails age's authentication: changed or damaged (proven)."""


@dataclass(frozen=True)
class SegmentKeys:
    """What opens sealed segments in this process: the identities (may raise
    MissingIdentity or return none: the keyring is locked) and the run's scratch."""

    identities: Callable[[], list[str]]
    scratch: Callable[[], tuple[Path, Run]]


_keys: SegmentKeys | None = None
_keys_lock = threading.Lock()
_known: list[str] = []


def use_keys(keys: SegmentKeys | None) -> None:
    """Open sealed segments with `keys` from now on (the service's, set when it starts)."""
    global _keys
    with _keys_lock:
        _keys = keys
        _known.clear()


def is_sealed(path: Path) -> bool:
    return Path(path).name.endswith(SEALED_SUFFIX)


def identities() -> list[str]:
    """The identities that open sealed segments (read once from the keyring, then
    kept in memory); MissingIdentity when there are none (a locked keyring)."""
    with _keys_lock:
        keys, known = _keys, list(_known)
    if known:
        return known
    found: list[str] = []
    if keys is not None:
        with contextlib.suppress(Exception):  # a locked keyring says so its own way
            found = list(keys.identities())
    if not found:
        raise MissingIdentity(
            "the continuous history is kept sealed here, and no identity to open it is "
            "available now (the keyring may be locked)",
            "unlock the keyring, or import your recovery key: lifeboat key import FILE",
        )
    with _keys_lock:
        _known[:] = found
    return found


def identity_available() -> bool:
    try:
        identities()
    except MissingIdentity:
        return False
    return True


class PlainSegment:
    """The plain bytes of a segment file, read at offsets: the file itself, or a sealed
    one's plaintext (in memory, or an unnamed file of the run's scratch)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._memory: bytes | None = None
        self._fd = -1
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        if not is_sealed(self.path):
            self._fd = fd
            self.size = os.fstat(fd).st_size
            return
        try:
            if os.fstat(fd).st_size <= IN_MEMORY:
                self._memory = _decrypt_bytes(fd, self.path.name)
                self.size = len(self._memory)
            else:
                self._fd = _decrypt_to_scratch(fd, self.path.name)
                self.size = os.fstat(self._fd).st_size
        finally:
            os.close(fd)

    def read_at(self, offset: int, size: int) -> bytes:
        if self._memory is not None:
            return self._memory[offset : offset + size]
        return os.pread(self._fd, size, offset)

    def close(self) -> None:
        self._memory = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _decrypt_bytes(fd: int, name: str) -> bytes:
    import pyrage

    with os.fdopen(os.dup(fd), "rb") as raw:
        data = raw.read()
    parsed = [pyrage.x25519.Identity.from_str(i) for i in identities()]
    try:
        return bytes(pyrage.decrypt(data, parsed))
    except pyrage.DecryptError as exc:
        raise _unopened(name, exc) from None


def _decrypt_to_scratch(fd: int, name: str) -> int:
    """Decrypt into a new file of the run's scratch whose name is gone before a byte is
    written; return its descriptor (open for reading)."""
    import pyrage

    parsed = [pyrage.x25519.Identity.from_str(i) for i in identities()]
    assert _keys is not None  # identities() found some
    folder, run = _keys.scratch()
    work = run.work_path(folder, "segment")
    out_fd = create_file(work)  # for writing; read back through a descriptor of its own
    try:
        plain_fd = os.open(work, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except BaseException:
        os.close(out_fd)
        raise
    finally:
        os.unlink(work)
    try:
        with os.fdopen(os.dup(fd), "rb") as raw, os.fdopen(out_fd, "wb") as out:
            pyrage.decrypt_io(raw, out, parsed)
    except pyrage.DecryptError as exc:
        os.close(plain_fd)
        raise _unopened(name, exc) from None
    except BaseException:
        os.close(plain_fd)
        raise
    return plain_fd


def _unopened(name: str, exc: Exception) -> Exception:
    if "No matching keys" in str(exc):
        return MissingIdentity(
            f"none of this machine's keys opens history segment {name}",
            "import the matching recovery key: lifeboat key import FILE",
        )
    return SealedUnreadable(f"{name}: it does not decrypt (changed or damaged)")


class _ErrorKeeping:
    """The file the encryption writes to, keeping the OSError a write raised: pyrage
    wraps it in its own EncryptError (its text only), and a full disk must still be
    said as one (the errno: core/private.disk_full_error)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self._out.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        try:
            self._out.flush()
        except OSError as exc:
            self.error = exc
            raise


class SealingWriter:
    """A writable file object: what is written to it is sealed to `recipients` into
    `out` (through a pipe to the age encryption in a thread of its own). `close` ends
    the ciphertext and raises what the encryption raised."""

    def __init__(self, out: BinaryIO, recipients: Sequence[str]) -> None:
        import pyrage

        if not recipients:
            raise MissingIdentity(
                "this source's history is kept sealed, but there is no encryption key",
                "create one: lifeboat key init",
            )
        parsed = [pyrage.x25519.Recipient.from_str(r) for r in recipients]
        self._out = _ErrorKeeping(out)
        read_end, write_end = os.pipe()
        self._reader = os.fdopen(read_end, "rb")
        self._writer = os.fdopen(write_end, "wb", buffering=_PIPE_BUFFER)
        self._error: BaseException | None = None

        def seal() -> None:
            try:
                pyrage.encrypt_io(self._reader, self._out, parsed)
            except BaseException as exc:  # raised by close()
                self._error = exc
            finally:
                self._reader.close()

        self._thread = threading.Thread(target=seal, name="lifeboat-seal", daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> int:
        try:
            return self._writer.write(data)
        except BrokenPipeError:
            self._thread.join()
            raise self._failure() from None

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self._writer.close()
        self._thread.join()
        if self._error is not None:
            raise self._failure()

    def _failure(self) -> BaseException:
        error = self._error
        if isinstance(error, OSError | MissingIdentity):
            return error
        if self._out.error is not None:  # what the file said, under pyrage's wrapping
            return self._out.error
        return OSError(f"sealing failed: {error}")


def unsealed_copy(path: Path, folder: Path) -> Path:
    """The plain segment of the sealed one at `path`, as a new file of `folder` (a
    private folder of the run's scratch: the caller removes it) named as it would be
    unsealed."""
    plain = PlainSegment(path)
    dest = Path(folder) / Path(path).name.removesuffix(SEALED_SUFFIX)
    try:
        with os.fdopen(create_file(dest), "wb") as out:
            for at in range(0, plain.size, 1 << 20):
                out.write(plain.read_at(at, 1 << 20))
    finally:
        plain.close()
    return dest
