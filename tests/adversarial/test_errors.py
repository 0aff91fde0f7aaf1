"""Errors say what really happened (issue 17, rule 10).

A full disk is reported as a full disk, and commands that only read keep working on it;
a config file nested thousands deep is a config error; a schedule that can never fire is
refused with the reason; `restore --to` over a symbolic link asks for --yes and then
replaces the link, never what it points to. Lifeboat runs as a real process throughout.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import sqlite3
import stat
from datetime import UTC
from pathlib import Path

import pytest

from tests.adversarial.conftest import fill_disk, lifeboat
from tests.helpers.databases import make_db

#: what no error of these tests may print
NEVER_SHOWN = ("unexpected error", "Traceback", "Logging error", "RecursionError")
#: words that would misreport a full disk as a damaged catalog
NOT_DAMAGED = ("unreadable", "move it aside")
LEAP_DAY = 'cron "0 3 29 2 *"'
NEVER = 'cron "0 3 31 2 *"'


def assert_plain(done, *, also: tuple[str, ...] = ()) -> None:
    """The process said nothing misleading and printed no traceback."""
    text = done.stdout + done.stderr
    for word in (*NEVER_SHOWN, *also):
        assert word not in text, f"{word!r} in output:\n{text}"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fill_log(log_file: Path) -> None:
    """Use up what the disk still gives the log file (its last block's slack)."""
    try:
        with open(log_file, "ab", buffering=0) as fh:
            while True:
                fh.write(b"#" * 512)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC


@pytest.fixture
def full_home(small_disk, open_base: Path) -> dict[str, object]:
    """A Lifeboat home on a small disk with one source, one snapshot and a key, then the
    disk filled to the last byte (the log file's slack too)."""
    disk = small_disk(48)
    home = disk / "home"
    env = {
        "LIFEBOAT_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        "XDG_DATA_HOME": str(disk / "xdg"),
    }
    source = make_db(open_base / "notes.db", rows=300)
    assert lifeboat(home, "source", "add", "--name", "notes", str(source), env=env).returncode == 0
    assert lifeboat(home, "key", "init", env=env).returncode == 0
    backup = lifeboat(home, "backup", "notes", env=env)
    assert backup.returncode == 0, backup.stderr
    snap_id = lifeboat(home, "snapshots", "--json", env=env).stdout.split('"id": "')[1][:8]
    fill_disk(disk)
    fill_log(home / "logs" / "lifeboat.log")
    assert os.statvfs(disk).f_bfree == 0
    return {"home": home, "env": env, "snapshot": snap_id, "open_base": open_base}


def test_commands_that_only_read_work_on_a_full_disk(full_home):
    home, env = full_home["home"], full_home["env"]
    catalog = home / "catalog.sqlite"
    before = digest(catalog)
    expected = {
        ("snapshots",): full_home["snapshot"],
        ("status",): "notes",
        ("jobs",): "backup",
        ("schedule", "explain", "daily", "03:00"): "every day at 03:00",
        ("source", "list"): "notes",
        ("remote", "list"): "no remotes yet",
        ("key", "show"): "age1",
    }
    for args, shown in expected.items():
        done = lifeboat(home, *args, env=env)
        assert done.returncode == 0, f"{args}: {done.stderr}"
        assert shown in done.stdout, f"{args}: {done.stdout}"
        assert_plain(done, also=NOT_DAMAGED)
    assert digest(catalog) == before


def test_a_settings_change_on_a_full_disk_says_so_and_changes_nothing(full_home):
    home, env = full_home["home"], full_home["env"]
    config = home / "config.toml"
    before = digest(config)
    other = make_db(full_home["open_base"] / "other.db", rows=10)
    for args in (
        ("source", "add", "--name", "other", str(other)),
        ("source", "set", "notes", "--schedule", "hourly"),
    ):
        done = lifeboat(home, *args, env=env)
        assert done.returncode == 1, done.stderr
        assert f"the disk holding {config} is full" in done.stderr
        assert "the settings were not changed" in done.stderr
        assert "free some space there" in done.stderr
        assert_plain(done, also=NOT_DAMAGED)
    assert digest(config) == before
    assert [p.name for p in home.iterdir() if p.name.startswith(".config.toml")] == []


def test_a_backup_on_a_full_disk_reports_the_full_disk(full_home):
    home, env = full_home["home"], full_home["env"]
    done = lifeboat(home, "backup", "notes", env=env)
    assert done.returncode == 1
    assert "full" in done.stderr
    lines = done.stderr.strip().splitlines()
    assert [line for line in lines if line.startswith("error:")] == [
        f"error: the disk holding {home / 'run'} is full"
    ]
    assert lines[-1] == "hint: free some space there, then retry"
    assert_plain(done, also=NOT_DAMAGED)


def test_a_catalog_write_on_a_full_disk_says_the_catalog_disk_is_full(full_home):
    home, env = full_home["home"], full_home["env"]
    done = lifeboat(home, "catalog", "rebuild", env=env)
    assert done.returncode == 1
    # a rebuild first needs room for its own work (in the run folder), then the catalog's
    assert (
        f"error: the disk holding {home / 'run'} is full" in done.stderr
        or f"error: the disk holding the catalog ({home / 'catalog.sqlite'}) is full" in done.stderr
    )
    assert "hint: free some space there, then retry" in done.stderr
    assert_plain(done, also=NOT_DAMAGED)
    done = lifeboat(home, "pin", full_home["snapshot"], "--reason", "keep", env=env)
    assert done.returncode == 1 and "is full" in done.stderr
    assert_plain(done, also=NOT_DAMAGED)
    assert lifeboat(home, "snapshots", env=env).returncode == 0  # and reads still work


def test_only_a_file_that_is_no_database_is_called_unreadable(ahome: Path):
    assert lifeboat(ahome, "snapshots").returncode == 0
    (ahome / "catalog.sqlite").write_bytes(b"this is not a database at all" * 200)
    for suffix in ("-wal", "-shm"):
        Path(f"{ahome / 'catalog.sqlite'}{suffix}").unlink(missing_ok=True)
    done = lifeboat(ahome, "snapshots")
    assert done.returncode == 2
    assert "is unreadable" in done.stderr and "move it aside" in done.stderr
    assert "Traceback" not in done.stderr


def test_commands_that_only_read_leave_a_current_catalog_unwritten(ahome: Path, open_base: Path):
    source = make_db(open_base / "notes.db", rows=50)
    assert lifeboat(ahome, "source", "add", str(source)).returncode == 0
    assert lifeboat(ahome, "backup", "notes").returncode == 0
    catalog = ahome / "catalog.sqlite"
    before = (digest(catalog), catalog.stat().st_mtime_ns)
    for args in (("snapshots",), ("status",), ("jobs",)):
        assert lifeboat(ahome, *args).returncode == 0
    assert (digest(catalog), catalog.stat().st_mtime_ns) == before


# -- the log ----------------------------------------------------------------------------


def test_the_log_is_private_whatever_the_umask(ahome: Path):
    done = lifeboat(ahome, "source", "set", "nothing", "--schedule", "hourly", umask=0o022)
    assert done.returncode == 2
    log_file = ahome / "logs" / "lifeboat.log"
    assert "no source named 'nothing'" in log_file.read_text()
    assert stat.S_IMODE(os.lstat(ahome / "logs").st_mode) == 0o700
    assert stat.S_IMODE(os.lstat(log_file).st_mode) == 0o600


def test_a_log_file_that_is_a_link_is_not_followed(ahome: Path, open_base: Path):
    assert lifeboat(ahome, "snapshots").returncode == 0
    log_file = ahome / "logs" / "lifeboat.log"
    log_file.unlink(missing_ok=True)
    elsewhere = open_base / "elsewhere.txt"
    log_file.symlink_to(elsewhere)
    done = lifeboat(ahome, "source", "set", "nothing", "--schedule", "hourly")
    assert done.returncode == 2
    assert "no source named 'nothing'" in done.stderr
    assert "cannot write the log file" in done.stderr  # one line, said once
    assert done.stderr.count("cannot write the log file") == 1
    assert_plain(done)
    assert not os.path.lexists(elsewhere)
    assert log_file.is_symlink()


def test_a_log_folder_that_is_a_link_is_refused_in_one_line(ahome: Path, open_base: Path):
    elsewhere = open_base / "elsewhere"
    elsewhere.mkdir()
    ahome.mkdir()
    (ahome / "logs").symlink_to(elsewhere)
    done = lifeboat(ahome, "source", "set", "nothing", "--schedule", "hourly")
    assert done.returncode == 2
    assert "no log file" in done.stderr and "symbolic link" in done.stderr
    assert_plain(done)
    assert list(elsewhere.iterdir()) == []


def test_a_rotated_log_is_private_and_never_followed(tmp_path: Path):
    import logging

    from lifeboat.core.log_file import PrivateLogFile

    folder = tmp_path / "logs"
    folder.mkdir(mode=0o700)
    log_file = folder / "lifeboat.log"
    old = os.umask(0o022)
    try:
        handler = PrivateLogFile(log_file)
        handler.maxBytes = 300
        record = logging.LogRecord("t", logging.INFO, __file__, 1, "x" * 100, None, None)
        for _ in range(10):
            handler.emit(record)
        handler.close()
    finally:
        os.umask(old)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["lifeboat.log", "lifeboat.log.1", "lifeboat.log.2", "lifeboat.log.3"]
    assert {stat.S_IMODE(os.lstat(folder / n).st_mode) for n in names} == {0o600}
    # a link planted where the next file goes is not written through
    elsewhere = tmp_path / "elsewhere"
    log_file.unlink()
    log_file.symlink_to(elsewhere)
    handler = PrivateLogFile(log_file)
    handler.emit(record)
    handler.close()
    assert not os.path.lexists(elsewhere)


# -- config files nested too deep ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 100_000 + "]" * 100_000 + "\n",
        "a = " + "{b = " * 100_000 + "1" + "}" * 100_000 + "\n",
        "[sources.notes]\npath = " + "[" * 600 + '"x"' + "]" * 600 + "\n",
        "[" + ".".join(["a"] * 5000) + "]\n",
        "x." * 5000 + "y = 1\n",
    ],
    ids=["arrays", "inline-tables", "just-past-recursion", "dotted-table", "dotted-key"],
)
def test_a_config_nested_too_deep_is_a_config_error(ahome: Path, text: str):
    ahome.mkdir()
    config = ahome / "config.toml"
    config.write_text(text)
    done = lifeboat(ahome, "snapshots")
    assert done.returncode == 2
    assert f"{config}: not a Lifeboat config: " in done.stderr
    assert "nested more than" in done.stderr or "dotted parts" in done.stderr
    assert_plain(done)


def test_a_key_inside_a_long_string_does_not_stall_the_error_location(ahome: Path):
    """Finding the line of a bad key reads every line; a line of a string that looks
    like a header thousands of parts long must not be parsed at a quadratic cost."""
    ahome.mkdir()
    config = ahome / "config.toml"
    config.write_text(
        '[sources.notes]\npath = "/tmp/notes.db"\nbefore = """\n['
        + ".".join(["a"] * 3000)
        + "]\n[a"
        + " " * 200_000
        + 'b\n"""\n'
        "unknown = 1\n"
    )
    done = lifeboat(ahome, "snapshots", timeout=30)
    assert done.returncode == 2
    assert f"{config}:7: sources.notes.unknown: unknown setting" in done.stderr


# -- schedules that never fire -----------------------------------------------------------


def test_a_cron_schedule_that_never_fires_is_refused_everywhere(ahome: Path, open_base: Path):
    source = make_db(open_base / "notes.db", rows=20)
    reason = "cron '0 3 31 2 *' never fires (there is no February 31)"

    done = lifeboat(ahome, "source", "add", str(source), "--schedule", NEVER)
    assert done.returncode == 2 and reason in done.stderr
    assert_plain(done)
    assert lifeboat(ahome, "source", "add", str(source)).returncode == 0
    config = ahome / "config.toml"
    before = digest(config)
    done = lifeboat(ahome, "source", "set", "notes", "--schedule", NEVER)
    assert done.returncode == 2 and reason in done.stderr
    assert digest(config) == before

    done = lifeboat(ahome, "schedule", "explain", NEVER)
    assert done.returncode == 2 and reason in done.stderr
    assert_plain(done)

    text = config.read_text()
    for key in ("schedule", "drill"):
        assert f"\n{key} = " in text
        config.write_text(re.sub(f"(?m)^{key} = .*$", f"{key} = '{NEVER}'", text))
        done = lifeboat(ahome, "status")
        assert done.returncode == 2
        assert f"{config}:" in done.stderr and f"sources.notes.{key}: {reason}" in done.stderr
        assert_plain(done)
        config.write_text(text)


def test_a_leap_day_cron_schedule_is_accepted(ahome: Path, open_base: Path):
    source = make_db(open_base / "notes.db", rows=20)
    done = lifeboat(ahome, "source", "add", str(source), "--schedule", LEAP_DAY)
    assert done.returncode == 0, done.stderr
    done = lifeboat(ahome, "schedule", "explain", "--json", LEAP_DAY)
    assert done.returncode == 0, done.stderr
    assert "-02-29T03:00" in done.stdout


def test_the_tray_schedule_editor_shows_why_a_schedule_never_fires(qtbot):
    from lifeboat.gui.schedule_editor import ScheduleEditor

    editor = ScheduleEditor(tz=UTC)
    qtbot.addWidget(editor)
    editor.set_spec(NEVER)
    assert editor.error() == "cron '0 3 31 2 *' never fires (there is no February 31)"
    editor.set_spec(LEAP_DAY)
    assert editor.error() is None


def test_the_tray_says_a_full_disk_in_words():
    from lifeboat.gui.messages import error_lines

    message, hint = error_lines(
        OSError(errno.ENOSPC, "No space left on device", "/data/lifeboat/tmp/x")
    )
    assert message == "The disk holding /data/lifeboat/tmp/x is full."
    assert hint == "Free some space there, then retry."


# -- restore --to over a symbolic link ----------------------------------------------------


@pytest.fixture
def snapshot(ahome: Path, open_base: Path) -> str:
    source = make_db(open_base / "notes.db", rows=40)
    assert lifeboat(ahome, "source", "add", str(source)).returncode == 0
    assert lifeboat(ahome, "backup", "notes").returncode == 0
    return lifeboat(ahome, "snapshots", "--json").stdout.split('"id": "')[1][:8]


def restored_rows(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute("select count(*) from items").fetchone()[0]


def test_restore_to_a_dangling_link_asks_then_replaces_the_link(
    ahome: Path, open_base: Path, snapshot: str
):
    link = open_base / "restored.db"
    pointed = open_base / "not-there" / ".." / "pointed.db"
    link.symlink_to(pointed)

    done = lifeboat(ahome, "restore", snapshot, "--to", str(link))
    assert done.returncode == 2
    assert "already exists" in done.stderr and "--yes" in done.stderr
    assert os.readlink(link) == str(pointed)
    assert not os.path.lexists(open_base / "pointed.db")

    done = lifeboat(ahome, "restore", snapshot, "--to", str(link), "--yes")
    assert done.returncode == 0, done.stderr
    assert stat.S_ISREG(os.lstat(link).st_mode)
    assert restored_rows(link) == 40
    assert not os.path.lexists(open_base / "pointed.db")


def test_restore_to_a_link_to_a_file_replaces_the_link_not_the_file(
    ahome: Path, open_base: Path, snapshot: str
):
    precious = open_base / "precious.txt"
    precious.write_text("keep me")
    link = open_base / "restored.db"
    link.symlink_to(precious)
    done = lifeboat(ahome, "restore", snapshot, "--to", str(link))
    assert done.returncode == 2 and "already exists" in done.stderr
    done = lifeboat(ahome, "restore", snapshot, "--to", str(link), "--yes")
    assert done.returncode == 0, done.stderr
    assert stat.S_ISREG(os.lstat(link).st_mode) and restored_rows(link) == 40
    assert precious.read_text() == "keep me"


def test_restore_to_a_link_to_a_folder_replaces_the_link_not_the_folder(
    ahome: Path, open_base: Path, snapshot: str
):
    folder = open_base / "folder"
    folder.mkdir()
    link = open_base / "restored.db"
    link.symlink_to(folder)
    done = lifeboat(ahome, "restore", snapshot, "--to", str(link))
    assert done.returncode == 2 and "already exists" in done.stderr
    done = lifeboat(ahome, "restore", snapshot, "--to", str(link), "--yes")
    assert done.returncode == 0, done.stderr
    assert stat.S_ISREG(os.lstat(link).st_mode) and restored_rows(link) == 40
    assert folder.is_dir() and list(folder.iterdir()) == []
