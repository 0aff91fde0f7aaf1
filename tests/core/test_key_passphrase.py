"""A key file's passphrase at work in a child process (core/key_passphrase.py): what it
protects it opens, a wrong passphrase says so, a cancel kills the child, and the calling
process's other threads keep running meanwhile (pyrage's scrypt holds the GIL for its
seconds: in a thread it froze the tray)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lifeboat.core import key_passphrase
from lifeboat.core.key_passphrase import (
    OPEN,
    child_command,
    open_with_passphrase,
    protect_with_passphrase,
)
from lifeboat.foundation.errors import Cancelled, LifeboatError, OperationFailed
from lifeboat.foundation.progress import CancelToken
from tests.helpers.age_files import protect_cheaply
from tests.helpers.waiting import wait_until

SECRET = b"AGE-SECRET-KEY-1 is what such a file holds\n"
PASSPHRASE = "correct horse battery staple"


class Ticker(threading.Thread):
    """Counts turns of a thread of this process while the child works."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.turns = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.01):
            self.turns += 1


def test_what_it_protects_it_opens_and_other_threads_keep_running():
    ticker = Ticker()
    ticker.start()
    protected = protect_with_passphrase(SECRET, PASSPHRASE)
    opened = open_with_passphrase(protected, PASSPHRASE)
    ticker.stop.set()
    ticker.join()
    assert protected.startswith(b"age-encryption.org/v1") and SECRET not in protected
    assert opened == SECRET
    assert ticker.turns >= 5, "the scrypt held nothing of this process"


def test_a_wrong_passphrase_says_so_and_never_quotes_it():
    protected = protect_cheaply(SECRET, PASSPHRASE)
    with pytest.raises(LifeboatError) as raised:
        open_with_passphrase(protected, "not the passphrase")
    assert raised.value.message == "the passphrase does not open this key file"
    assert "not the passphrase" not in str(raised.value) + (raised.value.hint or "")


def test_a_cancel_kills_the_child():
    protected = protect_cheaply(SECRET, PASSPHRASE)
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        open_with_passphrase(protected, PASSPHRASE, cancel)


def test_a_file_larger_than_the_pipe_opens_or_is_refused_and_never_hangs():
    """The request crosses a pipe of 64 KiB. `communicate(timeout=...)` asked again after
    a timeout sends none of the rest of its input: a key file (or a backup file picked
    by mistake) over 64 KiB left the child waiting for it and the import waiting for
    the child, until a cancel (found by a test of a 64 KiB file)."""
    data = os.urandom(1 << 20)
    protected = protect_cheaply(data, PASSPHRASE)
    result: list[object] = []

    def opening() -> None:
        try:
            result.append(open_with_passphrase(protected, PASSPHRASE))
        except LifeboatError as exc:
            result.append(exc)

    thread = threading.Thread(target=opening, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the opening of a 1 MiB file hung"
    assert result == [data]
    with pytest.raises(LifeboatError, match="passphrase does not open"):
        open_with_passphrase(protected, "not the passphrase")


def test_no_module_of_the_current_folder_runs_in_the_child(tmp_path, monkeypatch):
    """`python -m` puts the current folder first on sys.path: a pyrage.py, a struct.py or a
    lifeboat/ folder where the user happens to stand (a Downloads folder, a shared one)
    would run in the child, be handed the passphrase and what it opens. The parent, run
    as the `lifeboat` script, never looks there."""
    ran = tmp_path / "planted code ran"
    planted = f"open({str(ran)!r}, 'w').close()\n"
    (tmp_path / "pyrage.py").write_text(planted)
    (tmp_path / "struct.py").write_text(planted)
    (tmp_path / "lifeboat").mkdir()
    (tmp_path / "lifeboat" / "__init__.py").write_text(planted)
    monkeypatch.chdir(tmp_path)
    try:
        opened = open_with_passphrase(protect_with_passphrase(SECRET, PASSPHRASE), PASSPHRASE)
    finally:
        assert not ran.exists(), "a module of the current folder ran in the child"
    assert opened == SECRET


@pytest.mark.parametrize("work", ["protect", "open"])
def test_a_passphrase_that_is_not_text_is_refused_without_quoting_it(work):
    """A byte that is not UTF-8 in a passphrase read under the C locale becomes a lone
    surrogate; encoding it raised UnicodeEncodeError, whose text (logged with its
    traceback by the CLI, and shown) names the character and its position."""
    not_text = "abcd\udcffefgh"
    protected = protect_cheaply(SECRET, PASSPHRASE)
    with pytest.raises(LifeboatError) as raised:
        if work == "protect":
            protect_with_passphrase(SECRET, not_text)
        else:
            open_with_passphrase(protected, not_text)
    said = f"{raised.value} {raised.value.hint}"
    assert "not text" in said
    for quoted in ("\udcff", "udcff", "xff", "position"):
        assert quoted not in said
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="reads /proc (Linux)")
def test_the_child_dumps_no_core_whatever_limit_it_inherits(tmp_path):
    """A child that crashed would write its memory (the passphrase, the opened key) as a
    core file in the current folder, or hand it to systemd-coredump, which keeps it: the
    child sets its core size limit to 0 before it reads anything."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    if hard == 0:
        pytest.skip("core dumps are off for good here: nothing to prove")
    child = subprocess.Popen(
        child_command(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=tmp_path,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (hard, hard)),
    )
    limits = Path(f"/proc/{child.pid}/limits")
    try:

        def core_limit() -> list[str]:
            line = next(x for x in limits.read_text().splitlines() if "core" in x)
            return line.split()[-3:-1]

        wait_until(lambda: core_limit() == ["0", "0"], "the child's core limit set to 0")
        protected = protect_with_passphrase(SECRET, PASSPHRASE)
        secret = PASSPHRASE.encode()
        request = OPEN + struct.pack(">I", len(secret)) + secret + protected
        out, _ = child.communicate(request, timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0 and out == SECRET


def test_a_child_that_gives_no_age_file_never_makes_a_recovery_key(monkeypatch):
    """A child with no working stdout (as a windowed build's could be) exits 0 with
    nothing: the empty answer is refused, never kept as the protected key."""
    silent = [sys.executable, "-c", "import sys; sys.stdin.buffer.read()"]
    monkeypatch.setattr(key_passphrase, "child_command", lambda: silent)
    with pytest.raises(OperationFailed, match="gave no age file"):
        protect_with_passphrase(b"AGE-SECRET-KEY-1X", "words")


def test_a_child_that_ends_without_reading_a_large_request_is_answered_at_once(monkeypatch):
    """The request is larger than the pipe and the child never reads it: the feeding
    thread's broken pipe ends it, and the answer is the child's."""
    answers = [
        sys.executable,
        "-c",
        "import sys; sys.stdout.buffer.write(b'age-encryption.org/v1\\n')",
    ]
    monkeypatch.setattr(key_passphrase, "child_command", lambda: answers)
    started = time.monotonic()
    made = protect_with_passphrase(os.urandom(4 << 20), "words")
    assert made == b"age-encryption.org/v1\n"
    assert time.monotonic() - started < 30


def test_a_cancel_ends_the_wait_even_while_something_else_holds_the_child_s_output(
    monkeypatch,
):
    """A child that exits while a process it started still holds its output: the wait
    for the pipes' ends still heeds a cancel (it could not before it was asked)."""
    lingering = ["sh", "-c", "sleep 8 & exit 0"]  # it ends by itself
    monkeypatch.setattr(key_passphrase, "child_command", lambda: lingering)
    cancel = CancelToken()
    timer = threading.Timer(0.5, cancel.cancel)
    timer.start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        open_with_passphrase(b"age-encryption.org/v1\n", "words", cancel)
    assert time.monotonic() - started < 5


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="counts /proc/self/fd")
def test_a_cancel_during_the_scrypt_leaves_no_descriptor_or_thread():
    protected = protect_cheaply(SECRET, PASSPHRASE, work_factor=18)  # the child: ~1 s
    threads, descriptors = threading.active_count(), len(os.listdir("/proc/self/fd"))
    cancel = CancelToken()
    timer = threading.Timer(0.3, cancel.cancel)
    timer.start()
    with pytest.raises(Cancelled):
        open_with_passphrase(protected, PASSPHRASE, cancel)
    timer.join()
    wait_until(lambda: threading.active_count() == threads, "the pipe threads to end", timeout=10)
    assert len(os.listdir("/proc/self/fd")) == descriptors


def test_a_child_that_cannot_start_is_one_line(monkeypatch, tmp_path):
    missing = [str(tmp_path / "no-such-program")]
    monkeypatch.setattr(key_passphrase, "child_command", lambda: missing)
    with pytest.raises(OperationFailed, match="could not start the process") as caught:
        open_with_passphrase(b"age-encryption.org/v1\n", "words")
    assert "words" not in str(caught.value) and "\n" not in caught.value.message


def _children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_whose_tray_is_killed_dies_at_once(tmp_path):
    """kill -9 of the process that started the child (the tray) kills the child too:
    an orphan would hold the passphrase until its scrypt ended."""
    protected = tmp_path / "key.age"
    protected.write_bytes(protect_with_passphrase(SECRET, PASSPHRASE))
    started = time.monotonic()
    assert open_with_passphrase(protected.read_bytes(), PASSPHRASE) == SECRET
    scrypt_s = time.monotonic() - started  # what an orphan would go on for
    opener = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path;"
            "from lifeboat.core.key_passphrase import open_with_passphrase;"
            f"open_with_passphrase(Path(sys.argv[1]).read_bytes(), {PASSPHRASE!r})",
            str(protected),
        ]
    )
    try:
        child = wait_until(lambda: _children_of(opener.pid), "the opener's child")[0]
        # at work on the scrypt: past its start-up, the request read (a kill before the
        # request is whole ends the child at once anyway: its stdin closes short)
        wait_until(lambda: _cpu_s(child) > scrypt_s / 4, "the child at work")
        opener.kill()
        opener.wait()
        killed = time.monotonic()
        wait_until(lambda: _gone(child), "the orphaned child gone", timeout=scrypt_s * 4)
        assert time.monotonic() - killed < scrypt_s / 2, (time.monotonic() - killed, scrypt_s)
    finally:
        if opener.poll() is None:
            opener.kill()
            opener.wait()
