"""Runs: what proves that work left on disk is Lifeboat's own, and that its owner is gone.

Each process that does work starts a *run*: a random token and a lock file
`<run_dir>/runs/<token>.lock` that it holds for its whole life. The OS drops the lock
when the process ends, kill -9 included, so a lock anyone can take belongs to a run
that has ended. Every work file carries its run's token in its name
(`.lb-<token>-<random>.<kind>.partial`), scratch files live in the run's own folder
`<temp>/<token>/`, and job rows and open multipart uploads record the token too. So a
leftover is deleted only when its name says it is a run's incomplete work *and* that
run has ended: never by matching a source's name, never by guessing from a pid.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import sys
import threading
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from lifeboat.core.private import create_file, private_dir

TOKEN_RE = re.compile(r"^[0-9a-f]{12}$")
WORK_RE = re.compile(
    r"^\.lb-(?P<run>[0-9a-f]{12})-(?P<rand>[0-9a-f]{8})\.(?P<kind>[a-z0-9][a-z0-9.-]{0,30})"
    r"\.partial$"
)
_LOCK_SUFFIX = ".lock"
_PLACES_SUFFIX = ".places"  # the folders a run wrote work files in, one per line
_STARTING_SUFFIX = ".starting"


class RunState(Enum):
    ALIVE = "alive"
    ENDED = "ended"  # its lock file is here and free: proven ended
    UNKNOWN = "unknown"  # no lock file here: ended and swept, or another installation's


@dataclass
class Run:
    """This process's run. Created once per installation folder (see Workspace.run)."""

    token: str
    runs_dir: Path
    _fd: int | None = field(default=None, repr=False)
    _places: set[str] = field(default_factory=set, repr=False)
    _places_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def scratch(self, temp_root: Path) -> Path:
        """The run's private scratch folder under `temp_root` (created on first use)."""
        return private_dir(temp_root / self.token, "scratch folder")

    def work_path(self, folder: Path, kind: str) -> Path:
        """A new, unique name for a work file of this run in `folder` (not created).

        The folder is noted in the run's record first, so that if the run is killed the
        next sweep knows where its work files are, wherever that is (next to a database
        being restored, say)."""
        name = f".lb-{self.token}-{secrets.token_hex(4)}.{kind}.partial"
        assert WORK_RE.match(name), name
        self._note_place(Path(folder))
        return Path(folder) / name

    @staticmethod
    def work_beside(work: Path, kind: str) -> Path:
        """A new, unique name for another work file of the run whose work file `work` is,
        in the same folder (already noted by work_path)."""
        match = WORK_RE.match(work.name)
        if match is None:
            raise ValueError(f"not a run's work file: {work.name}")
        name = f".lb-{match.group('run')}-{secrets.token_hex(4)}.{kind}.partial"
        assert WORK_RE.match(name), name
        return work.with_name(name)

    def _note_place(self, folder: Path) -> None:
        """Note the folder with its device and inode: a sweep that finds another file
        system mounted there (or nothing) keeps the record until it finds this one."""
        place = os.path.abspath(folder)
        with self._places_lock:
            if place in self._places:
                return
            info = os.stat(place)
            path = self.runs_dir / f"{self.token}{_PLACES_SUFFIX}"
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(path, flags, 0o600)
            try:
                os.write(fd, f"{info.st_dev} {info.st_ino} ".encode() + os.fsencode(place) + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
            self._places.add(place)

    def close(self) -> None:
        """End the run now (tests; a run otherwise ends with its process). What it left
        is removed by the next sweep, as after a kill."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def start_run(run_dir: Path) -> Run:
    """Start a run: its lock file is created, locked, then renamed into place, so nobody
    ever sees it unlocked under its final name."""
    runs = private_dir(Path(run_dir) / "runs", "run folder")
    while True:
        token = secrets.token_hex(6)
        staging = runs / f".{token}{_STARTING_SUFFIX}"
        try:
            fd = create_file(staging)
        except FileExistsError:
            continue
        break
    try:
        if not _try_lock(fd):
            raise OSError("a brand-new lock file could not be locked")
        os.write(fd, f"{os.getpid()}\n".encode())
        os.replace(staging, runs / f"{token}{_LOCK_SUFFIX}")
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(staging)
        raise
    return Run(token, runs, fd)


def run_state(run_dir: Path, token: str) -> RunState:
    """Whether the run `token` still runs: ENDED only with proof (its lock file is here
    and nobody holds it). Without a lock file here the run is UNKNOWN: one of ours that
    ended and was swept, or another installation's sharing a folder; nothing of an
    UNKNOWN run's is ever deleted from a folder."""
    if not TOKEN_RE.match(token):
        return RunState.UNKNOWN
    path = Path(run_dir) / "runs" / f"{token}{_LOCK_SUFFIX}"
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return RunState.UNKNOWN
    except OSError:
        return RunState.ALIVE  # cannot tell: assume it runs (nothing gets deleted)
    try:
        if _try_lock(fd):
            _unlock(fd)
            return RunState.ENDED
        return RunState.ALIVE
    finally:
        os.close(fd)


def run_alive(run_dir: Path, token: str | None) -> bool:
    return token is not None and run_state(run_dir, token) is RunState.ALIVE


def ended_runs(run_dir: Path) -> list[str]:
    """Tokens of runs whose lock file is still there but no longer held."""
    runs = Path(run_dir) / "runs"
    try:
        names = os.listdir(runs)
    except OSError:
        return []
    ended = []
    for name in names:
        token = name.removesuffix(_LOCK_SUFFIX)
        if (
            name.endswith(_LOCK_SUFFIX)
            and TOKEN_RE.match(token)
            and run_state(run_dir, token) is RunState.ENDED
        ):
            ended.append(token)
    return ended


@dataclass
class RunSweep:
    removed: list[Path] = field(default_factory=list)
    #: folders where an ended run left work that cannot be reached now (unmounted,
    #: unreadable): its record is kept, and they are cleaned when they can be
    unreachable: list[Path] = field(default_factory=list)


def sweep_runs(run_dir: Path, temp_roots: list[Path]) -> RunSweep:
    """Remove what ended runs left: their scratch folders (decrypted or decompressed
    copies, downloads) under each of `temp_roots`, their work files in every folder they
    noted, then their records. A record stays while a noted folder cannot be reached or
    holds another file system than it did (a disk unmounted since): the run's work there
    is removed when the folder is back. A scratch folder without a lock file here is
    left alone: it may be another installation's."""
    sweep = RunSweep()
    runs = Path(run_dir) / "runs"
    for token in ended_runs(run_dir):
        for root in temp_roots:
            sweep.removed += _remove_scratch(Path(root) / token)
        places = runs / f"{token}{_PLACES_SUFFIX}"
        settled = True
        for identity, folder in _read_places(places):
            if not _same_folder(folder, identity):
                sweep.unreachable.append(folder)
                settled = False
                continue
            removed, listed = remove_work_of(folder, token)
            sweep.removed += removed
            settled = settled and listed
        if settled:
            with contextlib.suppress(OSError):
                os.unlink(places)
            with contextlib.suppress(OSError):
                os.unlink(runs / f"{token}{_LOCK_SUFFIX}")
    _remove_stale_starting(runs)
    return sweep


def remove_work_of(folder: Path, token: str) -> tuple[list[Path], bool]:
    """Remove the work files the (ended) run `token` left in `folder`; also say whether
    the folder could be listed and every one of them was removed."""
    removed: list[Path] = []
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return removed, True  # gone, with whatever was in it
    except OSError:
        return removed, False
    complete = True
    for name in names:
        match = WORK_RE.match(name)
        if match is None or match.group("run") != token:
            continue
        path = Path(folder) / name
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
            removed.append(path)
        except FileNotFoundError:
            continue
        except OSError:
            complete = False
    return removed, complete


def _read_places(path: Path) -> list[tuple[tuple[int, int] | None, Path]]:
    """The folders noted by a run: ((device, inode) when it was noted, path)."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    places: list[tuple[tuple[int, int] | None, Path]] = []
    for line in data.splitlines():
        parts = line.split(b" ", 2)
        if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
            places.append(((int(parts[0]), int(parts[1])), Path(os.fsdecode(parts[2]))))
        elif line.strip():
            places.append((None, Path(os.fsdecode(line))))
    return places


def _same_folder(folder: Path, identity: tuple[int, int] | None) -> bool:
    """Whether `folder` is still the folder that was noted (not gone, not another file
    system mounted over it since)."""
    try:
        info = os.stat(folder)
    except FileNotFoundError:
        # Gone with whatever was in it, unless its parent is unreachable too.
        return os.path.isdir(Path(folder).parent)
    except OSError:
        return False
    return identity is None or (info.st_dev, info.st_ino) == identity


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this pid exists (for records made before runs existed:
    a pid can be reused, so runs are what prove a process has ended)."""
    if not pid or pid < 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def job_alive(run_dir: Path, run: str | None, pid: int | None) -> bool:
    """Whether the process that recorded a job (by its run, else by its pid) lives."""
    return run_alive(run_dir, run) if run else pid_alive(pid)


def _remove_scratch(folder: Path) -> list[Path]:
    if not os.path.lexists(folder):
        return []
    if os.path.islink(folder):
        with contextlib.suppress(OSError):
            os.unlink(folder)  # never ours: Lifeboat makes this folder itself
        return [folder]
    try:
        # Empty: the run left nothing in it (each run that used its scratch folder ends
        # with it empty); not work an interrupted run left, so not reported as such.
        os.rmdir(folder)
        return []
    except OSError:
        pass
    shutil.rmtree(folder, ignore_errors=True)  # rmtree never follows links inside
    return [folder]


def _remove_stale_starting(runs: Path) -> None:
    try:
        names = os.listdir(runs)
    except OSError:
        return
    for name in names:
        if not (name.startswith(".") and name.endswith(_STARTING_SUFFIX)):
            continue
        path = runs / name
        try:
            fd = os.open(path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            if _try_lock(fd):
                with contextlib.suppress(OSError):
                    os.unlink(path)
        finally:
            os.close(fd)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows builds
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
