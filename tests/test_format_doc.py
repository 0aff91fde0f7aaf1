"""docs/FORMAT.md is enough to get data back without Lifeboat: run its recipe."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from lifeboat.service import Service
from tests.conftest import REPO
from tests.helpers.databases import db_content, make_db


def test_the_documented_recipe_rebuilds_a_differential(home: Path, tmp_path: Path):
    service = Service()
    db = make_db(tmp_path / "notes.db", rows=2000)
    service.add_source(db)
    base = service.backup("notes")
    conn = sqlite3.connect(db)
    conn.execute("update items set name = 'changed' where id % 50 = 0")
    conn.execute("delete from items where id > 1900")
    conn.commit()
    conn.close()
    diff = service.backup("notes")
    assert diff.manifest.kind == "diff"
    doc = (REPO / "docs" / "FORMAT.md").read_text()
    recipe = re.search(r"```python\n(.*?)```", doc, re.S).group(1)
    recipe = (
        recipe.replace("BASE.sqlite.zst", str(base.path))
        .replace("DIFF.diff.zst", str(diff.path))
        .replace("restored.db", str(tmp_path / "out.db"))
    )
    result = subprocess.run(
        [sys.executable, "-c", recipe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == diff.manifest.db_sha256
    out = tmp_path / "out.db"
    assert hashlib.sha256(out.read_bytes()).hexdigest() == diff.manifest.db_sha256
    assert db_content(out) == db_content(db)
