"""`lifeboat diff RAW_ID`: the preview of a raw safety copy (the files of a database
SQLite could not read, kept before a restore replaced it) compares what SQLite can read
of it, plain or sealed, and says in words what it cannot, never "missing" for a copy
that is there. A raw copy is never sent to a remote (remote/plans.py), so there is no
remote-only raw copy: one whose folder is gone says so."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from lifeboat.foundation.errors import ConfigError, MissingArtifact
from lifeboat.service import Service


def _two_tables(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("create table a(v)")
    conn.execute("create table b(v text)")
    conn.executemany("insert into a values (?)", [(i,) for i in range(100)])
    conn.executemany("insert into b values (?)", [("x" * 500,) for _ in range(200)])
    conn.commit()
    conn.close()
    return path


def _damage_last_page(path: Path) -> None:
    """A leaf page of table b overwritten: SQLite reads the schema and table a, not b."""
    data = bytearray(path.read_bytes())
    last = len(data) - 4096
    data[last : last + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))


def _damage_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[:16] = b"not a database!!"
    path.write_bytes(bytes(data))


def _raw_copy_of_damaged(tmp_path: Path, damage, *, sealed: bool = False) -> tuple[Service, str]:
    service = Service()
    db = _two_tables(tmp_path / "p.db")
    service.add_source(db, name="p", schedule="manual")
    if sealed:
        service.init_key()
        service.update_source("p", encrypt_local=True)
    good = service.backup("p", full=True)
    damage(db)
    outcome = service.restore(good.id)  # in place: the damaged file is kept raw first
    raw = service.snapshot(str(outcome.safety_snapshot))
    assert raw.manifest.kind == "raw"
    return service, raw.id


@pytest.mark.parametrize("sealed", [False, True], ids=["plain", "sealed"])
def test_the_preview_of_a_raw_copy_compares_what_sqlite_can_read(
    home: Path, file_keyring: Path, tmp_path: Path, sealed: bool
):
    service, raw_id = _raw_copy_of_damaged(tmp_path, _damage_last_page, sealed=sealed)
    diff = service.preview(raw_id)
    tables = {t.name: t for t in diff.tables}
    assert tables["a"].rows_snapshot == 100 and tables["a"].rows_now == 100
    assert tables["b"].rows_snapshot is None and "malformed" in str(tables["b"].note)
    scratch = home / "tmp"
    assert not [p for p in scratch.rglob("*") if p.is_file()], "nothing decrypted is left"


def test_the_preview_of_a_raw_copy_sqlite_cannot_read_says_so_in_one_line(
    home: Path, tmp_path: Path, cli
):
    service, raw_id = _raw_copy_of_damaged(tmp_path, _damage_header)
    with pytest.raises(ConfigError) as refused:
        service.preview(raw_id)
    assert "raw safety copy" in refused.value.message
    assert "missing" not in refused.value.message
    assert f"lifeboat restore {raw_id} --to FILE" in str(refused.value.hint)
    result = cli("diff", raw_id)
    assert result.code == 2 and "Traceback" not in result.err + result.out


def test_a_raw_copy_whose_folder_is_gone_is_missing_and_never_on_a_remote(
    home: Path, tmp_path: Path
):
    service, raw_id = _raw_copy_of_damaged(tmp_path, _damage_last_page)
    record = service.snapshot(raw_id)
    shutil.rmtree(record.folder / record.manifest.stored_name)
    with pytest.raises(MissingArtifact, match="never sent to a remote"):
        service.preview(raw_id)


def test_a_raw_copy_previewed_under_a_temp_folder_needing_quoting_is_read_itself(
    home: Path, tmp_path: Path
):
    """A `#` in the temp folder the user chose: the raw copy's readability is asked of
    the copy itself (a `file:` URI quoted), and no file is created beside the folder."""
    _service, raw_id = _raw_copy_of_damaged(tmp_path, _damage_header)
    chosen = tmp_path / "scratch#1"
    chosen.mkdir(mode=0o700)
    config = home / "config.toml"
    config.write_text(f'[general]\ntemp_dir = "{chosen}"\n\n' + config.read_text())
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(ConfigError) as refused:
        Service().preview(raw_id)
    assert "raw safety copy" in refused.value.message
    assert sorted(p.name for p in tmp_path.iterdir()) == before
