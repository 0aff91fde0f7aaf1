"""Raw safety copies, the restore preview and what "damaged" means, attacked through the
CLI as a process (docs/SAFETY.md rules 4, 5 and 7).

- A raw safety copy of a source kept encrypted holds no plaintext: it is sealed with
  age as it is copied, verifies without the key, and restores with it.
- A raw copy restored over a WAL database leaves none of the old -wal/-shm beside it.
- The preview works for databases with the application's own virtual-table module or
  FTS5 tokenizer, and says what it could not compare.
- A differential whose own file is intact is never called damaged when its base fails.
- A check that SQLite could not run (a lock, a file that cannot be opened) is no damage.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lifeboat.core.dbcheck import check_database
from lifeboat.core.dbdiff import diff_databases
from lifeboat.core.dbdiff_records import NOT_COMPARED
from lifeboat.core.dbdiff_summary import summarize
from lifeboat.foundation.errors import OperationFailed
from tests.adversarial.conftest import lifeboat, modes_wider_than_private

MARKER = "SECRET-PLAINTEXT-MARKER-5c1e"
AGE_HEADER = b"age-encryption.org/v1\n"


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout + result.stderr


def snapshots(home: Path, env: dict[str, str] | None = None) -> list[dict[str, object]]:
    return json.loads(ok(lifeboat(home, "snapshots", "--json", env=env)))


def keyring_env(base: Path) -> dict[str, str]:
    """A real keyring (keyrings.alt's file backend, named for Lifeboat), outside the home."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_KEYRING_BACKEND"}
    env["XDG_DATA_HOME"] = str(base / "xdg")
    env["LIFEBOAT_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
    return env


def files_holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def wal_db(path: Path, rows: int = 300, text: str = MARKER) -> Path:
    """A WAL database whose last rows are still in its -wal (a writer that was killed:
    no checkpoint), as a live application leaves it."""
    code = f"""
import sqlite3, os
c = sqlite3.connect({str(path)!r}, isolation_level=None)
c.execute("pragma journal_mode=wal")
c.execute("create table if not exists t(id integer primary key, v text)")
c.execute("pragma wal_autocheckpoint=0")
c.execute("begin")
for i in range({rows}):
    c.execute("insert into t(v) values (?)", ({text!r} + " row " + str(i),))
c.execute("commit")
os._exit(0)
"""
    subprocess.run([sys.executable, "-c", code], check=True)
    assert Path(f"{path}-wal").stat().st_size > 0
    return path


def checkpoint(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("pragma wal_checkpoint(truncate)")
    conn.close()


def damage_header(db: Path) -> bytes:
    with open(db, "r+b") as fh:
        fh.write(b"not a database!!" * 4)
    return db.read_bytes()


# -- rule 7: a raw copy of a source kept encrypted is sealed ---------------------------


def test_the_raw_copy_of_an_encrypted_source_holds_no_plaintext_and_restores(
    ahome: Path, open_base: Path
):
    env = keyring_env(open_base)
    data = open_base / "data"
    data.mkdir()
    db = wal_db(data / "k.db")
    checkpoint(db)  # these rows in the database file itself
    ok(lifeboat(ahome, "key", "init", env=env))
    ok(lifeboat(ahome, "source", "add", str(db), "--name", "k", env=env))
    ok(lifeboat(ahome, "source", "set", "k", "--encrypt-local", env=env))
    ok(lifeboat(ahome, "backup", "k", env=env))
    good = snapshots(ahome, env)[0]["id"]
    wal_db(db, rows=50, text=MARKER + "-in-the-wal")  # more in its -wal, not checkpointed
    damaged = damage_header(db)
    sidecars = {s: Path(f"{db}{s}").read_bytes() for s in ("-wal", "-shm")}
    assert MARKER.encode() in damaged and MARKER.encode() in sidecars["-wal"]

    ok(lifeboat(ahome, "restore", str(good), "--yes", env=env))

    assert files_holding(ahome, MARKER.encode()) == [], "plaintext under the home"
    raw = next(s for s in snapshots(ahome, env) if s["kind"] == "raw")
    folder = Path(str(raw["path"]))
    assert folder.name.endswith(".raw.age") and folder.is_dir()
    stored = sorted(p.name for p in folder.iterdir())
    assert stored == ["k.db-shm.age", "k.db-wal.age", "k.db.age"]
    assert all((folder / n).read_bytes().startswith(AGE_HEADER) for n in stored)
    assert modes_wider_than_private(folder) == []
    manifest = json.loads(next(folder.parent.glob(f"*{raw['id']}.json")).read_text())
    assert manifest["local_encryption"]["scheme"] == "age"
    assert manifest["local_encryption"]["recipients"]
    # Verify checks the ciphertext; no key is needed for that.
    assert "all 1 snapshot(s) verified" in ok(lifeboat(ahome, "verify", str(raw["id"]), env=env))
    # A catalog rebuilt from the files finds it whole.
    ok(lifeboat(ahome, "catalog", "rebuild", env=env))
    assert {s["id"]: s["status"] for s in snapshots(ahome, env)}[raw["id"]] == "ok"

    out = open_base / "forensic" / "k.db"
    out.parent.mkdir()
    # Without the key: verify still checks it; a restore says why not and writes nothing.
    keyless = keyring_env(open_base / "elsewhere")
    assert "verified" in ok(lifeboat(ahome, "verify", str(raw["id"]), env=keyless))
    refused = lifeboat(ahome, "restore", str(raw["id"]), "--to", str(out), env=keyless)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "holds no identity" in refused.stderr and "lifeboat key import" in refused.stderr
    assert os.listdir(out.parent) == []
    ok(lifeboat(ahome, "restore", str(raw["id"]), "--to", str(out), env=env))
    assert out.read_bytes() == damaged
    for suffix, content in sidecars.items():
        assert Path(f"{out}{suffix}").read_bytes() == content
    assert files_holding(ahome, MARKER.encode()) == [], "a decrypted file was left behind"
    assert sorted(os.listdir(out.parent)) == ["k.db", "k.db-shm", "k.db-wal"]


def test_a_changed_sealed_raw_copy_fails_verify_and_restores_nothing(ahome: Path, open_base: Path):
    env = keyring_env(open_base)
    db = wal_db(open_base / "k.db")
    ok(lifeboat(ahome, "key", "init", env=env))
    ok(lifeboat(ahome, "source", "add", str(db), "--name", "k", env=env))
    ok(lifeboat(ahome, "source", "set", "k", "--encrypt-local", env=env))
    ok(lifeboat(ahome, "backup", "k", env=env))
    damage_header(db)
    ok(lifeboat(ahome, "restore", str(snapshots(ahome, env)[0]["id"]), "--yes", env=env))
    raw = next(s for s in snapshots(ahome, env) if s["kind"] == "raw")
    sealed = Path(str(raw["path"])) / "k.db.age"
    data = bytearray(sealed.read_bytes())
    data[len(data) // 2] ^= 0x01
    sealed.write_bytes(bytes(data))
    verified = lifeboat(ahome, "verify", str(raw["id"]), env=env)
    assert verified.returncode == 1 and "k.db is missing or changed" in verified.stdout
    out = open_base / "out.db"
    refused = lifeboat(ahome, "restore", str(raw["id"]), "--to", str(out), env=env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert not out.exists() and not list(open_base.glob(".lb-*"))


# -- rule 4: a raw restore over a WAL database keeps none of its old sidecars ----------


@pytest.mark.parametrize("sealed", [False, True], ids=["plain", "sealed"])
def test_a_raw_restore_over_a_wal_target_leaves_no_old_sidecars(
    ahome: Path, open_base: Path, sealed: bool
):
    env = keyring_env(open_base)
    data = open_base / "data"
    data.mkdir()
    db = data / "h.db"
    conn = sqlite3.connect(db)
    conn.execute("create table t(v)")
    conn.execute("insert into t values ('kept')")
    conn.commit()
    conn.close()
    ok(lifeboat(ahome, "key", "init", env=env))
    ok(lifeboat(ahome, "source", "add", str(db), "--name", "h", env=env))
    if sealed:
        ok(lifeboat(ahome, "source", "set", "h", "--encrypt-local", env=env))
    ok(lifeboat(ahome, "backup", "h", env=env))
    damaged = damage_header(db)  # a rollback-journal file: its raw copy has no -wal
    ok(lifeboat(ahome, "restore", str(snapshots(ahome, env)[0]["id"]), "--yes", env=env))
    raw = next(s for s in snapshots(ahome, env) if s["kind"] == "raw")

    # The target: a WAL database with rows only in its -wal (never checkpointed).
    target = wal_db(data / "other.db", rows=40, text="OLD-WAL-ROW")
    assert Path(f"{target}-shm").exists()
    ok(lifeboat(ahome, "restore", str(raw["id"]), "--to", str(target), "--yes", env=env))

    assert target.read_bytes() == damaged
    assert not Path(f"{target}-wal").exists() and not Path(f"{target}-shm").exists()
    assert files_holding(data, b"OLD-WAL-ROW") == [], "the old -wal is still there"
    assert sorted(os.listdir(data)) == ["h.db", "other.db"], "work files or sidecars left"


# -- rules 5 and 10: the preview of an application's database --------------------------


def app_table_db(path: Path, kind: str) -> Path:
    """A database with a table only the application can read: an FTS5 table with the
    application's tokenizer, or virtual tables of the application's own module (one
    that was FTS5, with its shadow tables, and one without any)."""
    conn = sqlite3.connect(path)
    conn.execute("create table t(id integer primary key, v text)")
    conn.executemany("insert into t(v) values (?)", [(f"row {i}",) for i in range(100)])
    conn.execute("create virtual table docs using fts5(body)")
    conn.executemany("insert into docs(body) values (?)", [(f"hello {i}",) for i in range(50)])
    conn.commit()
    # The application registers its module or tokenizer in its own code; Python's
    # sqlite3 cannot, so the schema is written as the application would have made it.
    conn.execute("pragma writable_schema=1")
    if kind == "tokenizer":
        sql = "CREATE VIRTUAL TABLE docs USING fts5(body, tokenize='myapp_tok')"
        conn.execute("update sqlite_master set sql = ? where name = 'docs'", (sql,))
    else:
        sql = "CREATE VIRTUAL TABLE docs USING myapp_fts(body)"
        conn.execute("update sqlite_master set sql = ? where name = 'docs'", (sql,))
        conn.execute(
            "insert into sqlite_master(type, name, tbl_name, rootpage, sql) values "
            "('table', 'appvt', 'appvt', 0, 'CREATE VIRTUAL TABLE appvt USING myapp_mod(a, b)')"
        )
    conn.execute("pragma writable_schema=0")
    conn.commit()
    conn.close()
    return path


APP_ERRORS = {"tokenizer": "no such tokenizer: myapp_tok", "module": "no such module: myapp_fts"}


@pytest.mark.parametrize("kind", ["tokenizer", "module"])
def test_the_preview_of_a_database_with_the_applications_table_works(
    ahome: Path, open_base: Path, kind: str
):
    db = app_table_db(open_base / "app.db", kind)
    conn = sqlite3.connect(db)  # SQLite itself cannot read that table here
    with pytest.raises(sqlite3.OperationalError, match=APP_ERRORS[kind]):
        conn.execute("select count(*) from docs").fetchone()
    if kind == "module":
        with pytest.raises(sqlite3.OperationalError, match="no such module: myapp_mod"):
            conn.execute("select * from appvt").fetchone()
    conn.close()
    ok(lifeboat(ahome, "source", "add", str(db), "--name", "app"))
    ok(lifeboat(ahome, "backup", "app"))
    snap = snapshots(ahome)[0]["id"]
    conn = sqlite3.connect(db)
    conn.execute("update t set v = 'changed' where id <= 3")
    conn.execute("delete from t where id > 95")
    conn.commit()
    conn.close()

    shown = ok(lifeboat(ahome, "diff", str(snap)))
    assert f"not compared here: {APP_ERRORS[kind]}" in shown
    assert "brings back 5 rows" in shown and "changes 3 rows in t" in shown
    assert re.search(r"Not compared here: .*docs \(" + APP_ERRORS[kind], shown)
    assert "changes nothing" not in shown
    tables = {
        t["name"]: t for t in json.loads(ok(lifeboat(ahome, "diff", str(snap), "--json")))["tables"]
    }
    assert tables["docs"]["matched_by"] == NOT_COMPARED
    assert (tables["t"]["brought_back"], tables["t"]["changed"]) == (5, 3)
    assert tables["docs_content"]["matched_by"] == "primary key"  # its data still compare
    if kind == "module":
        assert tables["appvt"]["matched_by"] == NOT_COMPARED
        assert "no such module: myapp_mod" in tables["appvt"]["note"]
    # Restoring it works too (what the preview is for).
    ok(lifeboat(ahome, "restore", str(snap), "--yes"))
    conn = sqlite3.connect(db)
    assert conn.execute("select count(*) from t where v = 'changed'").fetchone()[0] == 0
    conn.close()


def test_the_preview_says_nothing_changed_only_of_what_it_compared(open_base: Path):
    one = app_table_db(open_base / "one.db", "module")
    two = open_base / "two.db"
    two.write_bytes(one.read_bytes())
    diff = diff_databases(one, two)
    text = summarize(diff)
    assert "the data are the same" not in text
    assert text.startswith("Restoring changes nothing in the tables compared.")
    assert "Not compared here: appvt (no such module: myapp_mod" in text


def test_the_preview_of_a_damaged_database_works_when_the_snapshot_has_app_tables(
    open_base: Path,
):
    snap = app_table_db(open_base / "snap.db", "tokenizer")
    now = open_base / "now.db"
    now.write_bytes(snap.read_bytes())
    damage_header(now)
    diff = diff_databases(snap, now)
    assert diff.unreadable is not None
    docs = next(t for t in diff.tables if t.name == "docs")
    assert docs.matched_by == NOT_COMPARED and "no such tokenizer" in (docs.note or "")
    assert next(t for t in diff.tables if t.name == "t").rows_snapshot == 100
    assert "SQLite cannot read the database there" in summarize(diff)


# -- rule 5: a differential whose base failed is not damaged ---------------------------


def grow(db: Path, rows: int) -> None:
    conn = sqlite3.connect(db)
    conn.execute("create table if not exists t(id integer primary key, v text)")
    conn.executemany("insert into t(v) values (?)", [(os.urandom(150).hex(),) for _ in range(rows)])
    conn.commit()
    conn.close()


def flip_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def chain(home: Path, base: Path, env: dict[str, str] | None = None, *, sealed: bool = False):
    """Full F0, full F1, differential D on F1: (F0, F1, D) as snapshot rows."""
    db = base / "c.db"
    grow(db, 1500)
    ok(lifeboat(home, "source", "add", str(db), "--name", "c", env=env))
    if sealed:
        ok(lifeboat(home, "source", "set", "c", "--encrypt-local", env=env))
    ok(lifeboat(home, "backup", "c", "--full", env=env))
    grow(db, 20)
    ok(lifeboat(home, "backup", "c", "--full", env=env))
    grow(db, 20)
    ok(lifeboat(home, "backup", "c", env=env))
    d, f1, f0 = snapshots(home, env)
    assert (d["kind"], d["base"], f1["kind"]) == ("diff", f1["id"], "full"), (d, f1)
    return f0, f1, d


def called_damaged(text: str, snap: dict[str, object]) -> bool:
    return bool(re.search(rf"snapshot {snap['id']} \(\w+\) is damaged", text)) or bool(
        re.search(rf"CORRUPT\s+{snap['id']}", text)
    )


@pytest.mark.parametrize("sealed", [False, True], ids=["plain", "sealed"])
def test_a_differential_whose_base_is_damaged_is_never_called_damaged(
    ahome: Path, open_base: Path, sealed: bool
):
    env = keyring_env(open_base)
    if sealed:
        ok(lifeboat(ahome, "key", "init", env=env))
    f0, f1, d = chain(ahome, open_base, env, sealed=sealed)
    flip_middle(Path(str(f1["path"])))

    verified = lifeboat(ahome, "verify", "--all", env=env)
    text = verified.stdout + verified.stderr
    assert verified.returncode == 1 and "Traceback" not in text
    assert called_damaged(text, f1), text
    assert not called_damaged(text, d), text
    assert re.search(
        rf"BASE-FAILED\s+{d['id']}.*cannot be restored: its base {f1['id']} is damaged", text
    ), text
    status = {s["id"]: s["status"] for s in snapshots(ahome, env)}
    assert (status[f0["id"]], status[f1["id"]], status[d["id"]]) == ("ok", "corrupt", "ok")
    as_json = json.loads(lifeboat(ahome, "verify", str(d["id"]), "--json", env=env).stdout)
    assert as_json[0]["status"] == "base-failed"

    out = open_base / "out.db"
    restored = lifeboat(ahome, "restore", str(d["id"]), "--to", str(out), env=env)
    assert restored.returncode == 1 and "Traceback" not in restored.stderr
    assert not called_damaged(restored.stderr, d), restored.stderr
    assert f"its base {f1['id']} is damaged" in restored.stderr
    assert not out.exists()


def test_a_differential_whose_own_file_is_damaged_is_called_damaged(ahome: Path, open_base: Path):
    _, f1, d = chain(ahome, open_base)
    flip_middle(Path(str(d["path"])))
    flip_middle(Path(str(f1["path"])))  # both: its own damage is what it is told
    verified = lifeboat(ahome, "verify", str(d["id"]))
    assert verified.returncode == 1
    assert called_damaged(verified.stdout, d), verified.stdout
    assert {s["id"]: s["status"] for s in snapshots(ahome)}[d["id"]] == "corrupt"


def test_a_truncated_or_undecompressable_base_names_the_base(ahome: Path, open_base: Path):
    from lifeboat.core.manifest import read_manifest
    from lifeboat.core.reconstruct import BaseUnusable, reconstruct

    _, f1, d = chain(ahome, open_base)
    folder = Path(str(d["path"])).parent
    base_m = read_manifest(next(folder.glob(f"*{f1['id']}.json")))
    diff_m = read_manifest(next(folder.glob(f"*{d['id']}.json")))
    base_file = Path(str(f1["path"]))
    whole = base_file.read_bytes()
    for broken in (whole[: len(whole) // 3], whole[:100] + b"\0" * (len(whole) - 100)):
        base_file.write_bytes(broken)
        dest = open_base / "rebuilt.db"
        with pytest.raises(BaseUnusable) as failed:
            reconstruct(base_file, base_m, Path(str(d["path"])), diff_m, dest)
        assert failed.value.base_id == f1["id"] and not dest.exists()
        assert "is damaged" not in failed.value.message.split("its base")[0]


# -- rule 5: a check SQLite could not run is no damage ---------------------------------

LOCKER = """
import fcntl, os, sys, time
root, suffix = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    for folder, _, names in os.walk(root):
        for name in names:
            if name.endswith(suffix):
                fd = os.open(os.path.join(folder, name), os.O_RDWR)
                # SQLite's PENDING byte: while another process holds it, no reader starts
                fcntl.lockf(fd, fcntl.LOCK_EX, 1, 0x40000000)
                print("locked", flush=True)
                time.sleep(60)
    time.sleep(0.0005)
"""


def lock_when_created(root: Path, suffix: str) -> subprocess.Popen[str]:
    """A process that takes SQLite's lock on the first file named *suffix under root."""
    return subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(root), suffix], stdout=subprocess.PIPE, text=True
    )


def test_a_locked_database_during_check_is_not_called_damaged(open_base: Path):
    db = open_base / "copy.db"
    grow(db, 200)
    locker = lock_when_created(open_base, "copy.db")
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with pytest.raises(OperationFailed) as failed:
            check_database(db, "full")
        assert time.monotonic() - started < 30
    finally:
        locker.kill()
        locker.wait()
    message = failed.value.message
    assert "database is locked" in message and "SQLITE_BUSY" in message, message
    assert not re.search(r"damaged|corrupt|malformed|integrity", message, re.I)
    assert check_database(db, "full").ok  # the same file, once free


def test_a_database_that_cannot_be_opened_is_not_called_damaged(open_base: Path):
    with pytest.raises(OperationFailed, match="unable to open database file"):
        check_database(open_base / "nowhere" / "gone.db")
    damaged = open_base / "damaged.db"
    damaged.write_bytes(b"x" * 8192)
    assert not check_database(damaged).ok  # not a database: that is damage


def test_verify_while_its_copy_is_locked_does_not_call_the_snapshot_damaged(
    ahome: Path, open_base: Path
):
    db = open_base / "v.db"
    grow(db, 30000)  # a few MB: the lock is taken while it is decompressed
    ok(lifeboat(ahome, "source", "add", str(db), "--name", "v"))
    ok(lifeboat(ahome, "backup", "v"))
    snap = snapshots(ahome)[0]
    locker = lock_when_created(ahome / "tmp", ".verify.partial")
    try:
        verified = lifeboat(ahome, "verify", str(snap["id"]))
    finally:
        locker.kill()
        locker.wait()
    text = verified.stdout + verified.stderr
    assert verified.returncode == 1 and "Traceback" not in text
    assert "database is locked" in text, text
    assert not re.search(r"damaged|corrupt|malformed|integrity", text, re.I), text
    assert snapshots(ahome)[0]["status"] == "ok"
