"""A key file's passphrase at work in a child process: `open_with_passphrase` (Import
key) and `protect_with_passphrase` (Save recovery key).

The passphrase's scrypt takes seconds (5 s on a loaded 2-core machine, 16-25 s seen) and
pyrage holds the GIL all that time: run in a thread, it froze the tray. In a child
process it freezes nothing, and a cancel stops it for real (the child is killed).

What crosses to the child goes over its stdin (the passphrase never in its argv or its
environment, where other users' `ps` and /proc could read them); what it made comes back
over its stdout, a pipe: nothing decrypted is written to disk. The child says only, by
its exit status, whether the passphrase opened the file or why not (a wrong passphrase,
a damaged file, no key file: core/age_key_file.py), never the passphrase or what pyrage
said.

Run as `python -m lifeboat.core.key_passphrase`; a packaged build runs its own
executable with CHILD_ARG instead (packaging/lifeboat_main.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import subprocess
import sys
import threading
from typing import IO

from lifeboat.core.age_key_file import Verdict, why_not_opened
from lifeboat.foundation.errors import Cancelled, LifeboatError, OperationFailed
from lifeboat.foundation.progress import CancelToken

log = logging.getLogger(__name__)

#: The argument that makes a packaged (frozen) lifeboat executable this child.
CHILD_ARG = "--key-file-passphrase"
#: What the child is asked to do (the request's first byte).
OPEN, PROTECT = b"O", b"P"
_ANOTHER_COPY = "use another copy of the recovery key"
#: What the user is told of each reason the child gives (its exit status): "damaged"
#: only where the file's structure proves it, so no one retries passphrases on one
_SAID: dict[int, tuple[str, str]] = {
    Verdict.WRONG_PASSPHRASE: (
        "the passphrase does not open this key file",
        "check the passphrase",
    ),
    Verdict.NOT_AGE: (
        "this is not a passphrase-protected key file (it is not an age file)",
        "choose the recovery key file you saved",
    ),
    Verdict.NOT_PASSPHRASE: (
        "this age file is not protected by a passphrase: it is not a protected recovery key",
        "choose the recovery key file you saved (a backup file is not one)",
    ),
    Verdict.CUT_SHORT: ("this key file is damaged: it is cut short", _ANOTHER_COPY),
    Verdict.HEADER_GARBLED: (
        "this key file is damaged: its header is not well formed",
        _ANOTHER_COPY,
    ),
    Verdict.HEADER_FAILS: (
        "this key file is damaged: the passphrase is right, but its header fails its check",
        _ANOTHER_COPY,
    ),
    Verdict.CONTENTS_FAIL: (
        "this key file is damaged: the passphrase is right, but its contents were changed "
        "or cut short",
        _ANOTHER_COPY,
    ),
    Verdict.UNPROVEN: (
        "this key file did not open with this passphrase",
        f"check the passphrase; if it is right, the file may be damaged: {_ANOTHER_COPY}",
    ),
    Verdict.WHOLE_NOT_OPENED: (
        "the passphrase is right and this key file is whole, but it could not be opened "
        "on this computer now (it asks more work of the passphrase than this computer "
        "measured it can give)",
        "try again when the computer is less busy, or import it on another computer",
    ),
    Verdict.ARMOR_GARBLED: (
        "this key file is damaged: its text (ASCII armor) is not well formed",
        _ANOTHER_COPY,
    ),
}
#: How often the parent looks at the cancel token while the child works.
CANCEL_POLL_SECONDS = 0.05
_LENGTH = struct.Struct(">I")
#: The child's parent's pid (not a secret): a child whose parent died before it could
#: ask to die with it sees its parent changed, and stops
PARENT_ENV = "LIFEBOAT_KEY_CHILD_PARENT"
_PR_SET_PDEATHSIG = 1
#: How every age file begins: what a protected key must start with.
AGE_HEADER = b"age-encryption.org/v1\n"


def child_command() -> list[str]:
    if getattr(sys, "frozen", False):  # a packaged build: sys.executable is lifeboat itself
        return [sys.executable, CHILD_ARG]
    # -P: `-m` would put the current folder first on sys.path, and a pyrage.py or a
    # lifeboat/ folder where the user stands would be handed the passphrase
    return [sys.executable, "-P", "-m", "lifeboat.core.key_passphrase"]


def open_with_passphrase(data: bytes, passphrase: str, cancel: CancelToken | None = None) -> bytes:
    """What the age passphrase-encrypted `data` holds; LifeboatError if the passphrase
    does not open it or the file is proven damaged or no such file (saying which),
    Cancelled (the child killed) once `cancel` is set."""
    return _in_child(OPEN, data, passphrase, cancel)


def protect_with_passphrase(
    data: bytes, passphrase: str, cancel: CancelToken | None = None
) -> bytes:
    """`data` encrypted with the passphrase (an age file: `age -d` opens it)."""
    made = _in_child(PROTECT, data, passphrase, cancel)
    if not made.startswith(AGE_HEADER):  # e.g. a child with no working stdout: never an
        raise OperationFailed(  # empty or foreign file kept as the recovery key
            "could not protect the key with the passphrase (its process gave no age file)",
            "try again; if it fails again, see the log",
        )
    return made


def _in_child(what: bytes, data: bytes, passphrase: str, cancel: CancelToken | None) -> bytes:
    try:
        secret = passphrase.encode("utf-8")
    except UnicodeEncodeError:  # its text names the character and where it is
        raise LifeboatError(
            "the passphrase holds bytes that are not text",
            "type it again as plain text (UTF-8)",
        ) from None
    request = what + _LENGTH.pack(len(secret)) + secret + data
    try:
        child = subprocess.Popen(
            child_command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
            env={**os.environ, PARENT_ENV: str(os.getpid())},
        )
    except OSError as exc:  # no process could start (out of processes or memory)
        raise OperationFailed(
            f"could not start the process that works the passphrase: {exc.strerror or exc}",
            "close some programs, then try again",
        ) from None
    try:
        made, problem = _answer(child, request, cancel)
    finally:
        if child.poll() is None:  # cancelled, or an error on our side: stop the scrypt
            child.kill()
            child.wait()
    if child.returncode == 0:
        return made
    if child.returncode in _SAID:
        # the reason's name only: what the support log needs, nothing of the secret
        log.info("the key file did not open: %s", Verdict(child.returncode).name.lower())
        raise LifeboatError(*_SAID[child.returncode])
    log.warning("the key file's passphrase child failed (exit %s): %s", child.returncode, problem)
    raise OperationFailed(
        "could not work the key file's passphrase (its process failed)",
        "try again; if it fails again, see the log",
    )


def _answer(
    child: subprocess.Popen[bytes], request: bytes, cancel: CancelToken | None
) -> tuple[bytes, str]:
    """The child's stdout and last line of stderr, waiting on it while not cancelled.

    Threads feed the request and drain both outputs: `communicate(timeout=...)` asked
    again after a timeout sends no more of its input (it may not be given twice), so a
    request larger than the pipe (a key file over 64 KiB) left the child waiting for
    the rest, and the import waiting for the child, until a cancel."""
    assert child.stdin is not None and child.stdout is not None and child.stderr is not None
    out: list[bytes] = []
    err: list[bytes] = []
    threads = [
        threading.Thread(target=_feed, args=(child.stdin, request), daemon=True),
        threading.Thread(target=_drain, args=(child.stdout, out), daemon=True),
        threading.Thread(target=_drain, args=(child.stderr, err), daemon=True),
    ]
    for thread in threads:
        thread.start()
    # the child's exit, then the ends of its pipes (what holds them could outlive it)
    while child.poll() is None or any(thread.is_alive() for thread in threads):
        if cancel is not None and cancel.cancelled:
            # the caller kills the child: its pipes close and these threads end
            raise Cancelled(
                "cancelled: the key file was left as it was", "nothing was kept from it"
            )
        try:
            child.wait(timeout=CANCEL_POLL_SECONDS)
        except subprocess.TimeoutExpired:
            continue
        for thread in threads:
            thread.join(CANCEL_POLL_SECONDS / len(threads))
    if len(out) != 1 or len(err) != 1:  # a drain failed: what came back is not all of it
        raise OperationFailed(
            "could not work the key file's passphrase (its answer could not be read)",
            "try again; if it fails again, see the log",
        )
    lines = err[0].decode("utf-8", "replace").strip().splitlines()
    return out[0], lines[-1] if lines else ""


def _feed(stdin: IO[bytes], request: bytes) -> None:
    # the child may end or be killed before it read it all
    with contextlib.suppress(OSError, ValueError), stdin:
        stdin.write(request)


def _drain(stream: IO[bytes], into: list[bytes]) -> None:
    with contextlib.suppress(OSError, ValueError), stream:
        into.append(stream.read())


def _serve(request: bytes) -> int:
    """The child's side: read the request, write what it makes to stdout."""
    import pyrage

    what, rest = request[:1], request[1:]
    (size,) = _LENGTH.unpack_from(rest)
    secret = rest[_LENGTH.size : _LENGTH.size + size]
    passphrase, data = secret.decode("utf-8"), rest[_LENGTH.size + size :]
    if what == PROTECT:
        made = bytes(pyrage.passphrase.encrypt(data, passphrase))
    else:
        try:
            made = bytes(pyrage.passphrase.decrypt(data, passphrase))
        except Exception:
            # pyrage's words are no interface: age's structure says which it was, at the
            # price of a second scrypt when the stanza is well formed. Only once pyrage
            # has failed, so a good file never depends on this second reading of it
            verdict = why_not_opened(data, secret)
            opened = _other_forms(data, passphrase) if verdict == Verdict.WRONG_PASSPHRASE else None
            if opened is None:
                return verdict.value
            made = opened
    out = sys.stdout.buffer
    out.write(made)
    out.flush()
    return 0


def _other_forms(data: bytes, passphrase: str) -> bytes | None:
    """What `data` holds, opened with another Unicode form of the passphrase, or None.
    age does not normalise a passphrase, and the same typed "é" is one code point on one
    keyboard or system and two on another: someone typing the right passphrase would
    otherwise be told it is wrong forever. A scrypt more for each form that differs (none
    for an ASCII passphrase), and only once the typed form failed."""
    import unicodedata

    import pyrage

    for form in ("NFC", "NFD"):
        other = unicodedata.normalize(form, passphrase)
        if other == passphrase:
            continue
        try:
            return bytes(pyrage.passphrase.decrypt(data, other))
        except Exception:
            continue  # not this form either: the typed form's verdict stands
    return None


def _dump_no_core() -> None:
    """A crash would write this process's memory (the passphrase, the opened key) to a
    core file, or hand it to systemd-coredump, which keeps it: no core, whatever the
    limit inherited."""
    try:
        import resource
    except ImportError:  # Windows writes no core file
        return
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _die_with_parent() -> None:
    """Killed (SIGKILL) the moment the thread that started it dies, a kill -9 of the tray
    among them: an orphan would hold the passphrase for the rest of its scrypt (Linux;
    elsewhere it ends at its next write to the closed pipe). A parent gone before this
    was set is seen by its pid having changed."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import os
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    expected = os.environ.get(PARENT_ENV, "")
    if expected.isdigit() and os.getppid() != int(expected):
        raise SystemExit(1)


def main() -> int:
    try:
        _die_with_parent()
        _dump_no_core()
        return _serve(sys.stdin.buffer.read())
    except BaseException as exc:  # only its kind: never a value that could be the secret
        print(f"key file passphrase: {type(exc).__name__}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
