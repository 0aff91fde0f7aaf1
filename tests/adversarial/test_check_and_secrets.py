"""Rules 5 and 8 of docs/SAFETY.md, attacked through the CLI as a process.

Rule 5: "damaged" is said only of proven corruption, and no message tells a user to
restore over a live database without the preview. A healthy database that uses the
application's own collation and function backs up, verifies, drills, previews and
restores; the same database with a really corrupted page fails, with the preview in its
hint.

Rule 8: a secret is never stored in plain text unless the user chose that by name for
Lifeboat (LIFEBOAT_KEYRING_BACKEND); keyring's own settings are not that choice.
"""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.adversarial.conftest import lifeboat
from tests.conftest import REPO
from tests.helpers.appdb import app_connection, corrupt_page, leaf_pages, make_app_db

# A hint that sends the user to restore over the live database without the preview.
BARE_RESTORE = re.compile(r"restore (it )?from (an earlier |a )?snapshot|restore it\b", re.I)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout + result.stderr


def never_damaged(*outputs: str) -> None:
    for text in outputs:
        assert not re.search(r"damaged|corrupt|malformed", text, re.I), text


def newest_id(home: Path) -> str:
    return json.loads(lifeboat(home, "snapshots", "--json").stdout)[0]["id"]


def remote_saved(home: Path) -> bool:
    config = home / "config.toml"
    return config.exists() and "offsite" in config.read_text()


def rows(path: Path, table: str) -> list[tuple[object, ...]]:
    conn = app_connection(path)
    try:
        return conn.execute(f"select * from {table} order by rowid").fetchall()
    finally:
        conn.close()


# -- rule 5: a healthy database of an application --------------------------------------


def test_a_database_of_the_application_backs_up_verifies_drills_previews_restores(
    ahome: Path, open_base: Path
):
    db = make_app_db(open_base / "app.db")
    outputs = [
        ok(lifeboat(ahome, "source", "add", str(db), "--name", "app")),
        ok(lifeboat(ahome, "backup", "app")),
    ]
    assert "check quick: ok" in outputs[-1]
    first = newest_id(ahome)
    before = {t: rows(db, t) for t in ("t", "notes", "plain")}
    conn = app_connection(db)  # the application goes on working
    conn.execute("update notes set title = upper(title) where id <= 5")
    conn.execute("update t set b = 'other' where id <= 3")
    conn.execute("delete from t where id > 290")
    conn.commit()
    conn.close()
    outputs.append(ok(lifeboat(ahome, "source", "set", "app", "--check", "full")))
    outputs.append(ok(lifeboat(ahome, "backup", "app")))
    assert "check full: ok" in outputs[-1]
    outputs.append(ok(lifeboat(ahome, "verify", "--check", "full")))
    assert "all 2 snapshot(s) verified" in outputs[-1]
    outputs.append(ok(lifeboat(ahome, "drill", "app")))
    assert "drill passed" in outputs[-1]
    diff = json.loads(ok(lifeboat(ahome, "diff", first, "--live", "--json")))
    tables = {t["name"]: t for t in diff["tables"]}
    assert (tables["t"]["brought_back"], tables["t"]["changed"]) == (10, 3)
    assert tables["notes"]["changed"] == 5 and tables["plain"]["changed"] == 0
    outputs.append(ok(lifeboat(ahome, "diff", first, "--live")))
    assert "brings back 10 rows" in outputs[-1]
    out = open_base / "restored.db"
    outputs.append(ok(lifeboat(ahome, "restore", first, "--to", str(out))))
    assert {t: rows(out, t) for t in before} == before
    never_damaged(*outputs)


def test_the_manifest_lists_what_was_not_checked(ahome: Path, open_base: Path):
    db = make_app_db(open_base / "app.db")
    ok(lifeboat(ahome, "source", "add", str(db), "--name", "app"))
    backup = ok(lifeboat(ahome, "backup", "app"))
    [manifest_path] = (ahome / "snapshots" / "app").glob("*.json")
    manifest = json.loads(manifest_path.read_text())
    assert manifest["check_result"] == "ok"
    unchecked = manifest["check_unchecked"]
    assert "index notes_title: collation MYCOLL is defined by the application" in unchecked
    assert "index t_b: function myfn is defined by the application" in unchecked
    assert not any("plain" in line for line in unchecked)
    assert "not checked: index notes_title" in backup
    verify = ok(lifeboat(ahome, "verify"))
    assert "not checked: index notes_title: collation MYCOLL" in verify
    assert "partly-checked" in ok(lifeboat(ahome, "snapshots"))
    never_damaged(backup, verify)


# -- rule 5: real damage is still damage, and its hint shows the preview first -----------


@pytest.mark.parametrize("mode", ["quick", "full"])
@pytest.mark.parametrize("table", ["t", "plain"])
def test_a_corrupted_page_fails_the_backup_with_the_preview_in_its_hint(
    ahome: Path, open_base: Path, mode: str, table: str
):
    db = make_app_db(open_base / "app.db")
    ok(lifeboat(ahome, "source", "add", str(db), "--name", "app", "--check", mode))
    ok(lifeboat(ahome, "backup", "app"))
    conn = sqlite3.connect(db)  # fold the WAL in, so the page on disk is the live one
    conn.execute("pragma wal_checkpoint(truncate)")
    conn.close()
    pages = leaf_pages(db, table)
    corrupt_page(db, pages[len(pages) // 2])
    failed = lifeboat(ahome, "backup", "app")
    assert failed.returncode != 0 and "Traceback" not in failed.stderr
    assert "integrity check" in failed.stderr and "no snapshot was stored" in failed.stderr
    assert len(list((ahome / "snapshots" / "app").glob("*.json"))) == 1
    hint = failed.stderr.partition("hint:")[2]
    assert "lifeboat diff" in hint and not BARE_RESTORE.search(hint)


def damage(db: Path, how: str) -> None:
    if how == "page size":  # the header's page size: not a power of two
        with open(db, "r+b") as fh:
            fh.seek(16)
            fh.write(b"\x00\x03")
    elif how == "schema page":
        with open(db, "r+b") as fh:
            fh.seek(100)
            fh.write(b"\xff" * 200)
    elif how == "truncated":
        os.truncate(db, 40000)
    elif how == "schema text":
        data = db.read_bytes()
        at = data.index(b"CREATE TABLE plain")
        with open(db, "r+b") as fh:
            fh.seek(at)
            fh.write(b"CREATE TABLX")


@pytest.mark.parametrize("how", ["page size", "schema page", "truncated", "schema text"])
def test_no_message_restores_over_a_damaged_database_without_the_preview(
    ahome: Path, open_base: Path, how: str
):
    db = make_app_db(open_base / "app.db")
    ok(lifeboat(ahome, "source", "add", str(db), "--name", "app"))
    ok(lifeboat(ahome, "backup", "app"))
    snap = newest_id(ahome)
    conn = sqlite3.connect(db)
    conn.execute("pragma wal_checkpoint(truncate)")
    conn.close()
    damage(db, how)
    damaged = db.read_bytes()
    failed = lifeboat(ahome, "backup", "app")
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    message, _, hint = failed.stderr.partition("hint:")
    assert not BARE_RESTORE.search(hint), hint
    assert "lifeboat diff" in hint or "--to PATH" in hint, hint
    if how != "page size":  # SQLite itself reports these malformed: proven damage
        assert "is damaged: SQLite reports" in message and "lifeboat diff" in hint
    # The preview the hint points at works on the damaged database and says so.
    preview = lifeboat(ahome, "diff", snap)
    if how == "page size":
        assert preview.returncode == 2 and "damaged SQLite header" in preview.stderr
    else:
        assert "SQLite cannot read the database" in ok(preview)
    asked = lifeboat(ahome, "restore", snap, input="n\n")
    assert asked.returncode == 2 and "Traceback" not in asked.stderr
    assert db.read_bytes() == damaged, "nothing was restored without a yes"


def hint_texts(tree: ast.AST) -> list[tuple[int, str]]:
    """Every call argument that is text (literal, f-string or a sum of them)."""

    def text(node: ast.AST) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            return "".join(text(v) or "{}" for v in node.values)
        if isinstance(node, ast.FormattedValue):
            return "{}"
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = text(node.left), text(node.right)
            return None if left is None or right is None else left + right
        return None

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                value = text(arg)
                if value:
                    found.append((arg.lineno, value))
    return found


def test_no_text_in_the_code_restores_a_damaged_database_without_the_preview():
    bad = []
    for path in sorted((REPO / "app" / "lifeboat").rglob("*.py")):
        for line, value in hint_texts(ast.parse(path.read_text(), str(path))):
            speaks_of_damage = re.search(r"damaged|corrupt|malformed|integrity", value, re.I)
            if (
                speaks_of_damage
                and BARE_RESTORE.search(value)
                and "lifeboat diff" not in value
                and "--to" not in value
            ):
                bad.append(f"{path.relative_to(REPO)}:{line}: {value}")
    assert bad == []


# -- rule 8: secrets in plain text only when chosen by name for Lifeboat ---------------

SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYsecret"


def keyring_env(base: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHON_KEYRING_BACKEND", "LIFEBOAT_KEYRING_BACKEND")
    }
    env.update(
        HOME=str(base / "home"),
        XDG_CONFIG_HOME=str(base / "config"),
        XDG_DATA_HOME=str(base / "data"),
        **extra,
    )
    for name in ("home", "config", "data"):
        (base / name).mkdir(exist_ok=True)
    return env


def picked_by_keyring(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", "import keyring; print(keyring.get_keyring())"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout.strip()


def add_remote(home: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return lifeboat(
        home,
        "remote",
        "add",
        "offsite",
        "--provider",
        "minio",
        "--bucket",
        "lb-offsite",
        "--endpoint",
        "http://127.0.0.1:9",
        "--access-key-id",
        "AKIAEXAMPLE",
        "--secret-stdin",
        input=SECRET + "\n",
        env=env,
    )


def files_holding_the_secret(root: Path) -> list[Path]:
    payload = json.dumps({"access_key_id": "AKIAEXAMPLE", "secret_access_key": SECRET})
    needles = [SECRET.encode(), base64.b64encode(payload.encode())[:24]]
    return [p for p in root.rglob("*") if p.is_file() and any(n in p.read_bytes() for n in needles)]


@pytest.fixture
def plain_only(open_base: Path) -> Path:
    """A machine whose only keyring backend keeps secrets in plain text (skip if this
    one has a real keyring)."""
    base = open_base / "user"
    base.mkdir()
    if "PlaintextKeyring" not in picked_by_keyring(keyring_env(base)):
        pytest.skip("this machine has a keyring backend other than plain text")
    return base


@pytest.mark.parametrize(
    "choice", ["empty keyringrc.cfg", "keyringrc.cfg naming it", "PYTHON_KEYRING_BACKEND"]
)
def test_plain_text_is_refused_unless_chosen_for_lifeboat(
    ahome: Path, plain_only: Path, choice: str
):
    rc = plain_only / "config" / "python_keyring" / "keyringrc.cfg"
    env = keyring_env(plain_only)
    if choice == "empty keyringrc.cfg":
        rc.parent.mkdir(parents=True)
        rc.write_text("")
    elif choice == "keyringrc.cfg naming it":
        rc.parent.mkdir(parents=True)
        rc.write_text("[backend]\ndefault-keyring=keyrings.alt.file.PlaintextKeyring\n")
    else:
        env["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
    assert "PlaintextKeyring" in picked_by_keyring(env), "keyring itself would use it"
    refused = add_remote(ahome, env)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    message, _, hint = refused.stderr.partition("hint:")
    assert "plain text" in message and "LIFEBOAT_KEYRING_BACKEND" in refused.stderr
    assert "--credentials env" in hint
    assert SECRET not in refused.stdout + refused.stderr
    assert files_holding_the_secret(plain_only) == []
    assert files_holding_the_secret(ahome) == [] and not remote_saved(ahome)
    stored = [p for p in plain_only.rglob("*") if p.is_file() and p != rc]
    assert stored == [], "nothing was written for the secret"


def test_plain_text_chosen_for_lifeboat_is_used_and_named(ahome: Path, plain_only: Path):
    env = keyring_env(plain_only, LIFEBOAT_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring")
    added = ok(add_remote(ahome, env))
    keyring_file = plain_only / "data" / "python_keyring" / "keyring_pass.cfg"
    assert f"in a plain-text file {keyring_file} (chosen with LIFEBOAT_KEYRING_BACKEND)" in added
    assert "OS keyring" not in added and SECRET not in added
    assert files_holding_the_secret(plain_only) == [keyring_file]
    assert files_holding_the_secret(ahome) == []
    key = ok(lifeboat(ahome, "key", "init", env=env))
    shown = ok(lifeboat(ahome, "key", "show", env=env))
    assert f"kept in a plain-text file {keyring_file}" in shown
    assert "OS keyring" not in key + shown


def test_a_named_backend_that_does_not_exist_is_a_clear_error(ahome: Path, open_base: Path):
    env = keyring_env(open_base, LIFEBOAT_KEYRING_BACKEND="keyrings.nowhere.Keyring")
    refused = add_remote(ahome, env)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "LIFEBOAT_KEYRING_BACKEND=keyrings.nowhere.Keyring" in refused.stderr
    assert not remote_saved(ahome)


def test_no_usable_keyring_is_refused_not_replaced(ahome: Path, plain_only: Path):
    """keyring's own setting picks no backend: refused; plain text is not the fallback."""
    env = keyring_env(plain_only, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    refused = add_remote(ahome, env)
    assert refused.returncode == 2 and "no usable OS keyring" in refused.stderr
    assert files_holding_the_secret(plain_only) == [] and not remote_saved(ahome)
