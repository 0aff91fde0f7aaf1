"""What the first-run flow decides, as plain functions on plain data (no Qt): the
schedule a plain choice means, whether two places are on the same disk, which other
disks are mounted, and each picked database's names."""

from __future__ import annotations

import getpass
import itertools
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from lifeboat.core.schedule import DAY_NAMES
from lifeboat.service.sources import default_display_name, default_source_name

HOURLY, DAILY, WEEKLY = "hourly", "daily", "weekly"


def schedule_spec(kind: str, at: str = "03:00", day: int = 0) -> str:
    """The schedule of a plain choice: every hour, every day at `at` (HH:MM), every week
    on `day` (0: Monday) at `at`."""
    if kind == HOURLY:
        return "hourly"
    if kind == DAILY:
        return f"daily {at}"
    if kind == WEEKLY:
        return f"weekly {DAY_NAMES[day]} {at}"
    raise ValueError(f"unknown choice {kind!r}")


def device_of(path: Path) -> int | None:
    """The device (st_dev) holding `path`, or the nearest folder above it that exists."""
    probe = Path(path)
    while True:
        try:
            return os.stat(probe).st_dev
        except OSError:
            if probe == probe.parent:
                return None
            probe = probe.parent


def on_same_disk(folder: Path, databases: Iterable[Path]) -> list[Path]:
    """The databases on the disk that would hold `folder`."""
    device = device_of(folder)
    return [db for db in databases if device is not None and device_of(db) == device]


def mount_candidates(user: str | None = None) -> list[Path]:
    """Where removable and second disks are usually mounted on this system."""
    user = user or getpass.getuser()
    roots = [Path("/media") / user, Path("/run/media") / user, Path("/mnt"), Path("/Volumes")]
    found: list[Path] = []
    for root in roots:
        try:
            children = sorted(root.iterdir())
        except OSError:
            continue
        found += [c for c in children if c.is_dir() and not c.name.startswith(".")]
    return found


def other_disks(
    databases: Sequence[Path], candidates: Iterable[Path], home: Path | None = None
) -> list[Path]:
    """Mounted folders on a disk other than the databases' and the home folder's, that
    this user can write into: where snapshots survive the loss of the databases' disk."""
    taken = {device_of(db) for db in databases}
    taken.add(device_of(home or Path.home()))
    return [
        folder
        for folder in candidates
        if device_of(folder) not in taken and os.access(folder, os.W_OK | os.X_OK)
    ]


def source_names(paths: Sequence[Path], taken: Iterable[str]) -> list[tuple[str, str]]:
    """(source name, display name) for each database: the source name safe for files and
    commands and unique, the display name as the file is called ('My Notes')."""
    used = set(taken)
    names = []
    for path in paths:
        name = base = default_source_name(path)
        for number in itertools.count(2):
            if name not in used:
                break
            name = f"{base}-{number}"
        used.add(name)
        names.append((name, default_display_name(path)))
    return names
