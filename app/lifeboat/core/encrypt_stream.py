"""A file's age ciphertext as a readable stream, produced while it is read.

pyrage only encrypts from one file object into another, so it runs in a thread of its
own and hands its output over through a small bounded queue: whoever reads (an upload)
overlaps with the encryption, memory stays at a few MiB, and no ciphertext is written to
the local disk. The SHA-256 of the ciphertext and of the plaintext are computed in the
same pass and are known once the stream has been read to its end.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from lifeboat.core.encryption import Encrypted
from lifeboat.core.hashing import sha256_file
from lifeboat.foundation.errors import LifeboatError, OperationFailed

_END = object()
_CHUNK = 1 << 20  # pyrage writes 64 KiB pieces; handing over 1 MiB at a time costs less
_QUEUE_CHUNKS = 4  # at most ~4 MiB of ciphertext waits between the two threads


class _Closed(Exception):
    """The reader went away; the encryption thread stops."""


class EncryptingReader:
    """Read the ciphertext of `source` encrypted to `recipients` (all of them).

    Use as a context manager: leaving it stops the encryption thread whatever happened.
    After `read()` has returned b"", `result()` gives the sizes and hashes.
    """

    def __init__(self, source: Path, recipients: list[str]) -> None:
        import pyrage

        if not recipients:
            raise LifeboatError("there is no encryption key yet", "create one: lifeboat key init")
        self._recipients = [pyrage.x25519.Recipient.from_str(r) for r in recipients]
        try:
            self._file = open(source, "rb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise OperationFailed(f"cannot read {source}: {exc.strerror or exc}") from None
        # The plaintext is hashed from its own read of the file, in a thread that holds
        # no lock (hashlib lets go of the GIL): pyrage holds the GIL while it encrypts.
        self._plain_digest: Future[str] = _HASHERS.submit(sha256_file, source)
        self._queue: queue.Queue[object] = queue.Queue(maxsize=_QUEUE_CHUNKS)
        self._gathered: list[bytes] = []
        self._gathered_size = 0
        self._closed = threading.Event()
        self._pending: deque[bytes] = deque()
        self._pending_size = 0
        self._ended = False
        self._error: BaseException | None = None
        self._digest = hashlib.sha256()
        self._size = 0
        self._thread = threading.Thread(target=self._encrypt, name="lifeboat-encrypt", daemon=True)
        self._thread.start()

    # -- the encryption thread ----------------------------------------------------------

    def _encrypt(self) -> None:
        import pyrage

        try:
            pyrage.encrypt_io(self._file, self, self._recipients)
            self._send_gathered()
            self._hand_over(_END)
        except _Closed:
            pass
        except BaseException as exc:  # handed to the reader, raised there
            self._error = exc
            with contextlib.suppress(_Closed):
                self._hand_over(_END)

    def write(self, data: bytes) -> int:
        """Called by pyrage with the next piece of ciphertext."""
        piece = data if isinstance(data, bytes) else bytes(data)
        self._digest.update(piece)
        self._size += len(piece)
        self._gathered.append(piece)
        self._gathered_size += len(piece)
        if self._gathered_size >= _CHUNK:
            self._send_gathered()
        return len(piece)

    def _send_gathered(self) -> None:
        # Pieces go over as a list: joining them here would copy every byte once more.
        if self._gathered:
            self._hand_over(self._gathered)
            self._gathered = []
            self._gathered_size = 0

    def flush(self) -> None:
        pass

    def _hand_over(self, item: object) -> None:
        while True:
            if self._closed.is_set():
                raise _Closed
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    # -- the reader's side --------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not self._ended and (size < 0 or self._pending_size < size):
            item = self._queue.get()
            if item is _END:
                self._ended = True
                if self._error is not None:
                    raise _failure(self._error)
                break
            assert isinstance(item, list)
            self._pending.extend(item)
            self._pending_size += sum(len(piece) for piece in item)
        if size < 0 or size >= self._pending_size:
            taken = list(self._pending)
            self._pending.clear()
        else:
            taken, have = [], 0
            while have < size:
                piece = self._pending.popleft()
                if have + len(piece) > size:
                    cut = size - have
                    self._pending.appendleft(piece[cut:])
                    piece = piece[:cut]
                taken.append(piece)
                have += len(piece)
        data = b"".join(taken)
        self._pending_size -= len(data)
        return data

    def result(self) -> Encrypted:
        if not self._ended or self._pending_size:
            raise RuntimeError("the ciphertext was not read to its end")
        return Encrypted(self._size, self._digest.hexdigest(), self._plain_digest.result())

    def close(self) -> None:
        self._closed.set()
        while True:  # unblock a thread waiting for room in the queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join()
        self._file.close()
        with contextlib.suppress(Exception):
            self._plain_digest.result()

    def __enter__(self) -> EncryptingReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _failure(exc: BaseException) -> LifeboatError:
    if isinstance(exc, LifeboatError):
        return exc
    return OperationFailed(f"encryption failed: {exc}")


_HASHERS = ThreadPoolExecutor(2, thread_name_prefix="lifeboat-hash")
