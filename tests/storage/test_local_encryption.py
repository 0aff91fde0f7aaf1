"""Snapshots kept encrypted on this machine (`source set --encrypt-local`): nothing under
the snapshot folder is readable without the key, and everything still restores."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from lifeboat.core.encryption import MissingIdentity
from lifeboat.foundation.errors import ConfigError
from lifeboat.service import Service
from lifeboat.storage.memory import MemoryStores
from tests.conftest import cli_process
from tests.helpers.databases import db_content, integrity
from tests.helpers.workfiles import files_under
from tests.storage.test_encryption import (
    MARKER,
    bucket_objects,
    encrypted_remote,
    needs_age,
    secret_db,
)


@pytest.fixture
def service(home: Path, file_keyring: Path) -> Service:
    return Service(stores=MemoryStores())


def edit(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("update notes set body = body || ' edited' where rowid % 10 = 0")
    conn.commit()
    conn.close()


def assert_nothing_readable(folder: Path) -> None:
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files
    for path in files:
        body = path.read_bytes()
        assert MARKER.encode() not in body, path
        assert b"SQLite format 3" not in body, path
        assert b"\x28\xb5\x2f\xfd" not in body, f"a zstd frame in {path}"


def test_local_snapshots_are_sealed_and_restore(service: Service, tmp_path: Path, home: Path):
    with pytest.raises(ConfigError, match="no encryption key"):
        service.add_source(secret_db(tmp_path / "secret.db"), encrypt_local=True)
    service.init_key()
    db = tmp_path / "secret.db"
    service.add_source(db, encrypt_local=True)
    base = service.backup("secret")
    edit(db)
    diff = service.backup("secret")
    assert (base.manifest.kind, diff.manifest.kind) == ("full", "diff")
    for record in (base, diff):
        assert record.path.name.endswith(".zst.age") and record.path.is_file()
        assert record.path.read_bytes().startswith(b"age-encryption.org/v1\n")
        assert not (record.folder / record.manifest.artifact).exists()
    assert_nothing_readable(base.folder)

    assert all(r.ok for r in service.verify(None, source="secret"))
    out = tmp_path / "back.db"
    service.restore(diff.id, to=out)
    assert db_content(out) == db_content(db) and integrity(out) == "ok"
    assert not files_under(home / "tmp"), "no decrypted copy left behind"

    rebuilt = cli_process(home, "catalog", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert [r.status for r in service.snapshots("secret")] == ["ok", "ok"]


def test_without_the_key_verify_checks_the_ciphertext_and_restore_says_why(
    service: Service, tmp_path: Path, home: Path
):
    recipient = service.init_key()
    saved = tmp_path / "recovery.txt"
    service.export_key(saved)
    db = secret_db(tmp_path / "secret.db")
    service.add_source(db, encrypt_local=True)
    record = service.backup("secret")
    service.secrets.delete("age-identities")

    (result,) = service.verify(record.id)
    assert result.ok and "no key" in str(result.problem)
    out = tmp_path / "out.db"
    with pytest.raises(MissingIdentity) as err:
        service.restore(record.id, to=out)
    assert recipient in err.value.message and "key import" in (err.value.hint or "")
    assert not out.exists() and not files_under(home / "tmp")
    backup_without_key = service.backup("secret", full=True)  # needs only the recipient
    assert backup_without_key.path.name.endswith(".age")

    body = bytearray(record.path.read_bytes())
    body[len(body) // 2] ^= 1
    record.path.write_bytes(bytes(body))
    (damaged,) = service.verify(record.id)
    assert not damaged.ok and service.snapshot(record.id).status == "corrupt"

    service.import_key(saved)
    service.restore(backup_without_key.id, to=out)
    assert db_content(out) == db_content(db)


def test_sealed_snapshots_go_up_as_they_are_and_come_back(service: Service, tmp_path: Path):
    service.init_key()
    encrypted_remote(service, encrypt=False)  # even a plain remote
    db = secret_db(tmp_path / "secret.db")
    service.add_source(db, remote="vault", encrypt_local=True)
    base = service.backup("secret")
    edit(db)
    diff = service.backup("secret")
    service.upload("secret")
    stored = bucket_objects(service)
    for record in (base, diff):
        copy = service.snapshot(record.id).copy_on("vault")
        assert copy.encrypted and stored[copy.key] == record.path.read_bytes()
    assert all(MARKER.encode() not in body for body in stored.values())
    for record in (base, diff):
        record.path.unlink()
    out = tmp_path / "from-remote.db"
    service.restore(diff.id, to=out)
    assert db_content(out) == db_content(db)


@needs_age
def test_the_age_tool_opens_a_sealed_local_snapshot(service: Service, tmp_path: Path):
    service.init_key()
    db = secret_db(tmp_path / "secret.db")
    service.add_source(db, encrypt_local=True)
    record = service.backup("secret")
    identity = tmp_path / "identity.txt"
    service.export_key(identity)
    restored = tmp_path / "via-age.db"
    subprocess.run(
        f"age -d -i {identity} {record.path} | zstd -d -q -o {restored}", shell=True, check=True
    )
    assert integrity(restored) == "ok" and db_content(restored) == db_content(db)


def test_switching_local_encryption_off_asks_and_old_snapshots_still_restore(
    service: Service, tmp_path: Path, home: Path
):
    service.init_key()
    db = secret_db(tmp_path / "secret.db")
    service.add_source(db, encrypt_local=True)
    sealed = service.backup("secret")
    off = cli_process(home, "source", "set", "secret", "--no-encrypt-local")
    assert off.returncode == 2 and "not confirmed" in off.stderr
    assert (
        cli_process(home, "source", "set", "secret", "--no-encrypt-local", "--yes").returncode == 0
    )
    edit(db)
    plain = service.backup("secret", full=True)
    assert not plain.path.name.endswith(".age")
    out = tmp_path / "old.db"
    service.restore(sealed.id, to=out)
    assert integrity(out) == "ok"


def test_a_locked_keyring_is_not_reported_as_no_key(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """`catalog rebuild` needs the key to re-derive a sealed snapshot's manifest; when
    the keyring is locked it says so, not that this machine has no key."""
    service.init_key()
    service.add_source(secret_db(tmp_path / "secret.db"), encrypt_local=True)
    record = service.backup("secret")
    record.manifest_path.write_bytes(b"{damaged")  # re-derived from the artifact by rebuild
    monkeypatch.setenv("LIFEBOAT_KEYRING_BACKEND", "tests.helpers.locked_keyring.LockedKeyring")

    report = service.rebuild_catalog(remotes=False)
    (reason,) = report.attention
    assert reason.startswith(f"{record.manifest_path}: its manifest cannot be read")
    assert "the keyring is locked" in reason and "unlock it and rebuild again" in reason
    assert "no key" not in reason and "key import" not in reason
    assert record.path.is_file(), "kept"

    monkeypatch.setenv("LIFEBOAT_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    report = service.rebuild_catalog(remotes=False)
    assert report.attention == [] and report.recovered == [f"{record.id}: {record.path}"]
