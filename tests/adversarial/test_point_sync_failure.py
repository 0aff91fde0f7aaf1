"""A point of the continuous history rebuilt onto a disk whose flush to storage fails.

The disk is real: an ext4 file system (no journal, errors=continue) on a loop device
whose backing file lives on a tmpfs much smaller than the file system. Every write()
succeeds (it lands in the page cache), and the fdatasync/fsync that should put it on the
device fails, as it does on a thin-provisioned volume that ran out of space or a USB disk
that went away: the loop device's writes to its full backing file fail, and the kernel
reports ENOSPC and then EIO to the sync (device-mapper's "error" target is not available
in this kernel). Root only; skipped otherwise.

The rule (issue 20; SAFETY rules 2 and 10): no file is published, the work file and the
run's scratch are removed, and the user reads one line that says what to do.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lifeboat.core.private import unwritten_error
from lifeboat.service import Service
from tests.adversarial.conftest import lifeboat
from tests.helpers.databases import make_db

_BACKING_MB = 3  # the loop file's room: mkfs's metadata and about 2 MiB more
_DISK_MB = 96  # what the file system says it holds


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True)


@pytest.fixture
def unsyncable_disk(open_base: Path) -> Iterator[Callable[[], Path]]:
    """make() -> the mount point of a file system whose writes succeed and whose syncs
    fail once about 2 MiB have been written (see the module's docstring)."""
    undo: list[list[str]] = []

    def make() -> Path:
        if os.geteuid() != 0:
            pytest.skip("needs root (mount, losetup)")
        back, point = open_base / "backing", open_base / "unsyncable"
        back.mkdir()
        point.mkdir()
        mounted = _run("mount", "-t", "tmpfs", "-o", f"size={_BACKING_MB}m", "tmpfs", str(back))
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
        undo.append(["umount", "-l", str(back)])
        image = back / "disk.img"
        os.truncate(os.open(image, os.O_CREAT | os.O_WRONLY, 0o600), _DISK_MB << 20)
        made = _run("mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-N", "64", str(image))
        if made.returncode != 0:
            pytest.skip(f"cannot make an ext4 file system here: {made.stderr.strip()}")
        loop = _run("losetup", "-f", "--show", str(image))
        if loop.returncode != 0:
            pytest.skip(f"no loop device here: {loop.stderr.strip()}")
        undo.append(["losetup", "-d", loop.stdout.strip()])
        done = _run("mount", "-o", "errors=continue", loop.stdout.strip(), str(point))
        if done.returncode != 0:
            pytest.skip(f"cannot mount the loop device: {done.stderr.strip()}")
        undo.append(["umount", "-l", str(point)])
        os.chmod(point, 0o755)
        return point

    yield make
    for argv in reversed(undo):
        _run(*argv)


def _history(db: Path) -> str:
    """A source with a continuous history of a few commits; a moment after its last."""
    service = Service()
    service.add_source(db, name="notes", schedule="manual", continuous=True)
    follower = service.open_follower("notes", compact_every_s=0, write_every_s=0)
    follower.start()
    writer = sqlite3.connect(db, isolation_level=None)
    for key in (3, 5, 9):
        writer.execute("delete from items where id = ?", (key,))
        follower.poll()
    follower.close()
    writer.close()
    return datetime.now(UTC).isoformat()


def _files(folder: Path) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(top, name), folder)
        for top, _, names in os.walk(folder)
        for name in names
    )


def _said_plainly(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr and "unexpected error" not in done.stderr, done.stderr
    assert 1 <= len(lines) <= 2, done.stderr  # the error, and its hint
    return done.stderr


def test_a_point_restored_to_a_disk_whose_sync_fails_is_not_published(
    ahome: Path, open_base: Path, unsyncable_disk
):
    db = make_db(open_base / "notes.db", rows=6000, payload=1000)  # about 8 MiB
    at = _history(db)
    disk = unsyncable_disk()
    target = disk / "back.db"
    done = lifeboat(ahome, "restore", "notes", "--at", at, "--to", str(target))
    said = _said_plainly(done)
    assert str(disk) in said, said  # which disk
    assert "not kept" in said and "retry" in said, said
    assert [f for f in _files(disk) if not f.startswith("lost+found")] == [], _files(disk)
    assert not target.exists()
    assert _files(ahome / "tmp") == []  # the run's scratch holds nothing


def test_a_point_restored_in_place_through_a_scratch_whose_sync_fails(
    ahome: Path, open_base: Path, unsyncable_disk
):
    """In place, the point is rebuilt into the run's scratch first (the temp folder the
    user chose, on the failing disk): nothing reaches the live database, the scratch
    holds nothing afterwards."""
    db = make_db(open_base / "notes.db", rows=6000, payload=1000)
    at = _history(db)
    before = db.read_bytes()
    disk = unsyncable_disk()
    config = ahome / "config.toml"
    config.write_text(f'[general]\ntemp_dir = "{disk}"\n\n' + config.read_text())
    done = lifeboat(ahome, "restore", "notes", "--at", at, "--yes")
    said = _said_plainly(done)
    assert str(disk) in said, said
    assert db.read_bytes() == before
    assert [f for f in _files(disk) if not f.startswith("lost+found")] == [], _files(disk)


@pytest.mark.parametrize(
    ("number", "words"),
    [
        (errno.ENOSPC, "is full"),
        (errno.EDQUOT, "is full"),
        (errno.EIO, "reported an input/output error"),
        (errno.EROFS, "reported that it is read-only"),
        (errno.EACCES, None),  # not the disk's failure: the caller says it
    ],
)
def test_what_a_failed_write_says(number: int, words: str | None):
    said = unwritten_error(OSError(number, os.strerror(number)), Path("/mnt/usb"), "the point")
    if words is None:
        assert said is None
        return
    assert said is not None
    assert said.message.startswith(f"the disk holding /mnt/usb {words}: the point "), said
    assert "retry" in (said.hint or "")


def test_the_flush_during_the_rebuild_failing_is_said_the_same_way(
    ahome: Path, open_base: Path, unsyncable_disk, monkeypatch: pytest.MonkeyPatch
):
    """A rebuild with no check to run beside its final fsync (a preview's, a merge's)
    starts the writeback of what it wrote every writeback.CHUNK in a thread of its own
    (history/finished_prefix.py; the block-by-block path: an fdatasync every
    _FLUSH_BYTES), so that the final fsync waits only for the tail: that thread's
    sync failing (its error is not reported again to the final fsync) is said as the
    disk's failure too. The intervals are made small here so an 8 MiB point crosses
    them many times."""
    from lifeboat.core import writeback
    from lifeboat.core.history import page_writer
    from lifeboat.core.history.points import rebuild_point
    from lifeboat.foundation.errors import OperationFailed
    from tests.core.history.helpers import make_capture

    monkeypatch.setattr(page_writer, "_FLUSH_BYTES", 256 << 10)
    monkeypatch.setattr(writeback, "CHUNK", 256 << 10)
    db = make_db(open_base / "notes.db", rows=6000, payload=1000)
    capture = make_capture(open_base / "capture", db)
    follower = capture.follower()
    follower.start()
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("delete from items where id = 3")
    follower.poll()
    chain, last = follower.status.chain, follower.status.last_capture_us
    follower.close()
    writer.close()
    assert chain is not None and last is not None
    point = capture.point(chain, last)
    assert point is not None
    disk = unsyncable_disk()
    target = disk / "back.db"
    with pytest.raises(OperationFailed) as raised:
        rebuild_point(point, target, capture.run, capture.scratch)  # no check
    said = raised.value.message
    assert said.startswith(f"the disk holding {disk} "), said
    assert "not kept" in said and "retry" in (raised.value.hint or "")
    assert not target.exists()
    assert [f for f in _files(disk) if not f.startswith("lost+found")] == [], _files(disk)
