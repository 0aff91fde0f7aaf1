"""The catalog's change mark (core/catalog_watch.py): the same while nothing is committed,
another after any commit, of any process, and no mark for a catalog it cannot tell of."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from lifeboat.core.catalog import Catalog
from lifeboat.core.catalog_watch import CatalogWatch
from tests.core.test_catalog import manifest


def test_the_mark_moves_with_each_commit_and_only_then(tmp_path: Path):
    catalog = Catalog(tmp_path / "c.sqlite")
    watch = CatalogWatch(catalog.path)
    first = watch.mark()
    assert first is not None and watch.mark() == first
    catalog.snapshots()  # reads commit nothing
    catalog.jobs()
    assert watch.mark() == first
    catalog.add_snapshot(manifest("aaaa0001"), tmp_path)  # this process, another connection
    second = watch.mark()
    assert second != first and watch.mark() == second
    subprocess.run(
        [sys.executable, "-c", WRITE, str(catalog.path)], check=True, timeout=60
    )  # another process
    third = watch.mark()
    assert third not in (first, second) and watch.mark() == third


WRITE = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("insert into events(at, level, message) values ('t', 'info', 'x')")
"""


def test_a_catalog_moved_aside_and_made_anew_is_another(tmp_path: Path):
    path = tmp_path / "c.sqlite"
    Catalog(path)
    watch = CatalogWatch(path)
    first = watch.mark()
    os.rename(path, tmp_path / "aside.sqlite")
    assert watch.mark() is None  # no catalog there: nothing to keep
    Catalog(path)
    again = watch.mark()
    assert again is not None and again != first and watch.mark() == again


def test_no_mark_for_a_link_or_what_is_no_database(tmp_path: Path):
    real = tmp_path / "real.sqlite"
    Catalog(real)
    link = tmp_path / "c.sqlite"
    link.symlink_to(real)
    assert CatalogWatch(link).mark() is None
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all".ljust(4096, b"!"))
    assert CatalogWatch(junk).mark() is None


def test_a_catalog_gone_when_the_watch_opens_it_is_not_made_anew(tmp_path: Path):
    """The stat saw the catalog, then it went: opening the watch's connection must not
    make an empty one (with the umask's mode) where Lifeboat's catalog was."""
    catalog = Catalog(tmp_path / "c.sqlite")
    watch = CatalogWatch(catalog.path)
    info = os.stat(catalog.path)
    for name in os.listdir(tmp_path):
        os.unlink(tmp_path / name)
    with contextlib.suppress(sqlite3.Error):
        watch._open((info.st_dev, info.st_ino))
    assert not catalog.path.exists()
    assert watch.mark() is None and not catalog.path.exists()
