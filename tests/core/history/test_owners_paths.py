"""The page owners of a base are made whatever its copy's path holds (review of session 28).

The copy the owners are walked from lives in the run's scratch folder, under the temp
folder the user may choose: a `#`, `?` or `%` in that path must neither open another
file (a `file:` URI not quoted) nor create one beside it, and the map must still be made.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from lifeboat.core.history.owners_file import database_owners


def _database(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("create table t(id integer primary key, v blob)")
    conn.executemany("insert into t values (?, randomblob(3000))", [(k,) for k in range(40)])
    conn.close()


@pytest.mark.parametrize("folder", ["run#1", "run?x=1", "run%41b"])
def test_the_owners_of_a_copy_under_a_folder_needing_quoting_are_made(tmp_path: Path, folder: str):
    where = tmp_path / folder
    where.mkdir()
    copy = where / "copy.db"
    _database(copy)
    before = sorted(os.listdir(tmp_path))
    made = database_owners(copy)
    assert sorted(os.listdir(tmp_path)) == before  # nothing created beside the folder
    assert made is not None
    owner, page1 = made
    assert len(owner) - 1 == copy.stat().st_size // 4096
    assert page1 == copy.read_bytes()[:4096]


def test_the_owners_walk_the_copy_itself_not_a_file_its_quoted_name_decodes_to(
    tmp_path: Path,
):
    copy = tmp_path / "a%41.db"  # a URI left unquoted reads "aA.db"
    _database(copy)
    other = tmp_path / "aA.db"
    conn = sqlite3.connect(other, isolation_level=None)
    conn.execute("create table u(x)")
    conn.close()
    made = database_owners(copy)
    assert made is not None
    assert made[1] == copy.read_bytes()[:4096]
    assert len(made[0]) - 1 == copy.stat().st_size // 4096
