"""What the adversarial suite attacks with: Lifeboat's CLI as a real process, another
local user, a small full disk, folders any user can walk into.

These tests assert the rules of docs/SAFETY.md (what Lifeboat may delete, create, call
damaged or count as a remote copy), not only exit codes.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

OTHER_USER = "nobody"


@pytest.fixture
def open_base() -> Iterator[Path]:
    """A folder under /tmp that every user can walk into (pytest's own tmp folders are
    0700, which would hide what these tests check: Lifeboat's own modes)."""
    base = Path(tempfile.mkdtemp(prefix="lb-adv-", dir="/tmp"))
    os.chmod(base, 0o755)
    yield base
    _unmount_all(base)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def ahome(open_base: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """LIFEBOAT_HOME inside `open_base` (not created: Lifeboat creates it)."""
    home = open_base / "home"
    monkeypatch.setenv("LIFEBOAT_HOME", str(home))
    return home


def lifeboat(
    home: Path,
    *args: str,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 120,
    umask: int | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `lifeboat ARGS` as a process with LIFEBOAT_HOME=home."""
    full_env = {**os.environ, "LIFEBOAT_HOME": str(home), **(env or {})}

    def set_umask() -> None:
        if umask is not None:
            os.umask(umask)

    return subprocess.run(
        [sys.executable, "-m", "lifeboat", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        preexec_fn=set_umask if umask is not None else None,
    )


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another local user or to mount a small disk")
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (util-linux) to act as another local user")


def as_other_user(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a command as the unprivileged user `nobody` (root only)."""
    require_root()
    return subprocess.run(
        ["setpriv", f"--reuid={OTHER_USER}", "--regid=nogroup", "--clear-groups", "--", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def give_to_other_user(*paths: Path) -> tuple[int, int]:
    """Make `paths` owned by `nobody` (root only); return its uid and gid."""
    require_root()
    import grp
    import pwd

    uid = pwd.getpwnam(OTHER_USER).pw_uid
    gid = grp.getgrnam("nogroup").gr_gid
    for path in paths:
        os.chown(path, uid, gid)
    return uid, gid


@pytest.fixture
def small_disk(open_base: Path) -> Iterator[callable]:
    """mount(size_mb) -> a fresh tmpfs of that size (root only), unmounted afterwards."""
    mounted: list[Path] = []

    def mount(size_mb: int, name: str = "disk") -> Path:
        require_root()
        point = open_base / name
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(point)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small disk here: {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def fill_disk(folder: Path, leave: int = 0) -> Path:
    """Fill the file system of `folder` until at most `leave` bytes are free."""
    filler = folder / "filler.bin"
    with open(filler, "wb") as fh:
        block = b"\0" * (1 << 20)
        try:
            while True:
                free = shutil.disk_usage(folder).free
                if free <= leave:
                    break
                fh.write(block if free - leave >= len(block) else block[: free - leave])
                fh.flush()
        except OSError:
            pass
    return filler


def modes_wider_than_private(root: Path) -> list[str]:
    """Every folder under `root` (itself included) that is not 0700 and every file that
    is not 0600, as 'path mode' lines (empty: all private)."""
    wrong = []
    for folder, dirs, files in os.walk(root):
        for name in [folder, *(os.path.join(folder, d) for d in dirs)]:
            mode = stat.S_IMODE(os.lstat(name).st_mode)
            if not stat.S_ISLNK(os.lstat(name).st_mode) and mode != 0o700:
                wrong.append(f"{name} {mode:o}")
        for name in files:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) != 0o600:
                wrong.append(f"{path} {stat.S_IMODE(info.st_mode):o}")
    return sorted(set(wrong))


def all_files(root: Path) -> set[str]:
    """Every file and folder under `root`, as paths relative to it."""
    found = set()
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            found.add(os.path.relpath(os.path.join(folder, name), root))
    return found


def _unmount_all(base: Path) -> None:
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return
    for line in mounts:
        point = line.split()[1]
        if point.startswith(str(base) + "/"):
            subprocess.run(["umount", "-l", point], capture_output=True)
