"""Client-side encryption with age: the remote never sees the data, nobody is locked out."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lifeboat.core.encryption import MissingIdentity
from lifeboat.foundation.errors import CorruptSnapshot
from lifeboat.service import Service
from lifeboat.storage.memory import MemoryStores
from lifeboat.storage.memory_bucket import MemoryBucket
from tests.conftest import cli_process, set_source
from tests.helpers.databases import change_db, db_content, integrity, make_db
from tests.helpers.memory_remote import MEMORY_BUCKET, add_memory_remote
from tests.helpers.workfiles import files_under

MARKER = "TOP-SECRET-MARKER-7f3a"
LIFEBOAT_CLI = [sys.executable, "-m", "lifeboat"]
needs_age = pytest.mark.skipif(
    not (shutil.which("age") and shutil.which("zstd")), reason="needs the age and zstd tools"
)


@pytest.fixture
def service(home: Path, file_keyring: Path) -> Service:
    return Service(stores=MemoryStores())  # S3 is not what is tested here


def secret_db(path: Path) -> Path:
    make_db(path, rows=800, payload=300)
    conn = sqlite3.connect(path)
    conn.execute("create table notes(body text)")
    conn.executemany("insert into notes values (?)", [(f"{MARKER} entry {i}",) for i in range(200)])
    conn.commit()
    conn.close()
    return path


def encrypted_remote(service: Service, encrypt: bool = True) -> None:
    """The remote "vault", on the service's memory stores."""
    add_memory_remote(service, "vault", encrypt=encrypt)


def remote_bucket(service: Service) -> MemoryBucket:
    return service.stores.bucket(MEMORY_BUCKET)  # type: ignore[attr-defined,no-any-return]


def bucket_objects(service: Service) -> dict[str, bytes]:
    return {key: found.data for key, found in remote_bucket(service).objects().items()}


def test_encrypted_round_trip_and_nothing_readable_remotely(
    service: Service, tmp_path: Path, home: Path
):
    recipient = service.init_key()
    encrypted_remote(service)
    db = secret_db(tmp_path / "secret.db")
    service.add_source(db, remote="vault")
    base = service.backup("secret")
    conn = sqlite3.connect(db)
    conn.execute("update notes set body = body || ' edited' where rowid % 10 = 0")
    conn.commit()
    conn.close()
    diff = service.backup("secret")
    assert diff.manifest.kind == "diff"
    expected = db_content(db)
    service.upload("secret")
    stored = bucket_objects(service)
    artifacts = [k for k in stored if not k.endswith(".json")]
    assert artifacts and all(k.endswith(".age") for k in artifacts)
    for key, body in stored.items():
        assert MARKER.encode() not in body, key
        assert b"SQLite format 3" not in body, key
        if not key.endswith(".json"):
            assert body.startswith(b"age-encryption.org/v1")
            assert b"\x28\xb5\x2f\xfd" not in body[:64], "a zstd frame shows through"
    manifest = next(body for key, body in stored.items() if key.endswith(".json"))
    assert b'"tables": null' in manifest and b'"source_path": ""' in manifest
    assert recipient.encode() in manifest
    for record in (base, diff):
        record.path.unlink()
    out = tmp_path / "back.db"
    service.restore(diff.id, to=out)
    assert db_content(out) == expected
    assert not files_under(home / "tmp"), "no plaintext or ciphertext left behind"


@needs_age
def test_the_standard_age_tool_opens_what_lifeboat_uploaded(service: Service, tmp_path: Path):
    import pexpect

    service.init_key()
    encrypted_remote(service)
    db = secret_db(tmp_path / "secret.db")
    service.add_source(db, remote="vault")
    service.backup("secret")
    service.upload("secret")
    body = next(b for k, b in bucket_objects(service).items() if k.endswith(".sqlite.zst.age"))
    sealed = tmp_path / "object.age"
    sealed.write_bytes(body)

    plain_key = tmp_path / "identity.txt"
    service.export_key(plain_key)
    assert plain_key.stat().st_mode & 0o777 == 0o600
    restored = tmp_path / "via-age.db"
    subprocess.run(
        f"age -d -i {plain_key} {sealed} | zstd -d -q -o {restored}", shell=True, check=True
    )
    assert integrity(restored) == "ok"
    assert db_content(restored) == db_content(db)

    protected = tmp_path / "identity.age"
    service.export_key(protected, "correct horse battery")
    opened = tmp_path / "opened.txt"
    child = pexpect.spawn("age", ["-d", "-o", str(opened), str(protected)], timeout=60)
    child.expect("passphrase")
    child.sendline("correct horse battery")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    restored2 = tmp_path / "via-age-2.db"
    subprocess.run(
        f"age -d -i {opened} {sealed} | zstd -d -q -o {restored2}", shell=True, check=True
    )
    assert db_content(restored2) == db_content(db)


def test_missing_and_wrong_keys_are_clear_and_restore_nothing(
    service: Service, tmp_path: Path, home: Path
):
    recipient = service.init_key()
    saved = tmp_path / "recovery.txt"
    service.export_key(saved)
    encrypted_remote(service)
    db = secret_db(tmp_path / "secret.db")
    service.add_source(db, remote="vault")
    record = service.backup("secret")
    service.upload("secret")
    record.path.unlink()
    out = tmp_path / "out.db"

    service.secrets.delete("age-identities")
    with pytest.raises(MissingIdentity) as err:
        service.restore(record.id, to=out)
    assert recipient in err.value.message and "key import" in (err.value.hint or "")
    from lifeboat.core.encryption import generate_identity, store_identity

    store_identity(service.secrets, generate_identity()[0])
    with pytest.raises(MissingIdentity, match="none of this machine's keys"):
        service.restore(record.id, to=out)
    assert not out.exists() and not files_under(home / "tmp")
    assert service.import_key(saved) == [recipient]
    service.restore(record.id, to=out)
    assert db_content(out) == db_content(db)


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_ciphertext_is_refused(service: Service, tmp_path: Path, home: Path, damage: str):
    service.init_key()
    encrypted_remote(service)
    db = secret_db(tmp_path / "secret.db")
    service.add_source(db, remote="vault")
    record = service.backup("secret")
    service.upload("secret")
    record.path.unlink()
    copy = service.snapshot(record.id).copy_on("vault")
    bucket = remote_bucket(service)
    body = bytearray(bucket.object(copy.key).data)
    if damage == "flip":
        body[len(body) // 2] ^= 1
    else:
        body = body[: len(body) - 100]
    bucket.write(copy.key, bytes(body), {"lifeboat-sha256": copy.sha256})
    out = tmp_path / "out.db"
    with pytest.raises(CorruptSnapshot):
        service.restore(record.id, to=out)
    assert not out.exists() and not files_under(home / "tmp")


def test_reencrypt_then_switching_off_needs_confirmation(
    service: Service, tmp_path: Path, home: Path
):
    encrypted_remote(service, encrypt=False)
    db = secret_db(tmp_path / "secret.db")
    service.add_source(db, remote="vault", keep="last=10")
    set_source(home, "secret", incremental=False)
    first = service.backup("secret")
    service.upload("secret")
    assert not service.snapshot(first.id).copy_on("vault").encrypted
    refused = cli_process(home, "remote", "set", "vault", "--encrypt")
    assert refused.returncode == 2 and "lifeboat key init" in refused.stderr
    service.init_key()
    service.update_remote("vault", encrypt=True)
    change_db(db)  # else the backup stores nothing new (the database is unchanged)
    second = service.backup("secret")
    service.upload("secret")
    assert service.snapshot(second.id).copy_on("vault").encrypted
    assert not service.snapshot(first.id).copy_on("vault").encrypted
    done = service.upload("secret", reencrypt=True)
    assert done.uploaded == [first.id]
    stored = bucket_objects(service)
    assert all(k.endswith((".age", ".json")) for k in stored)
    assert all(MARKER.encode() not in b for b in stored.values())
    off = cli_process(home, "remote", "set", "vault", "--no-encrypt")
    assert off.returncode == 2 and "not confirmed" in off.stderr
    assert cli_process(home, "remote", "set", "vault", "--no-encrypt", "--yes").returncode == 0
    first.path.unlink()
    out = tmp_path / "old.db"
    service.restore(first.id, to=out)  # an encrypted copy stays restorable
    assert integrity(out) == "ok"


@pytest.mark.parametrize(
    "reading",
    [{"LC_ALL": "C"}, {"PYTHONIOENCODING": "utf-8:strict"}],
    ids=["surrogate", "strict"],
)
def test_a_piped_passphrase_that_is_not_text_is_one_line_quoting_nothing(
    home: Path, tmp_path: Path, file_keyring: Path, reading: dict[str, str]
):
    """A byte that is not UTF-8 in the piped passphrase became a lone surrogate (C locale:
    encoding it raised UnicodeEncodeError) or failed its reading (UnicodeDecodeError):
    either was a bug, its traceback in the log and "unexpected error" on the screen, both
    naming the byte and its place in the passphrase."""
    assert cli_process(home, "key", "init").returncode == 0
    saved = tmp_path / "id.age"
    export = subprocess.run(
        [*LIFEBOAT_CLI, "key", "export", "--to", str(saved), "--passphrase-stdin"],
        input=b"abcd\xffefgh\n",
        env={**os.environ, "LIFEBOAT_HOME": str(home), **reading},
        capture_output=True,
        timeout=120,
    )
    said = export.stderr.decode("utf-8", "replace")
    assert export.returncode == 2, said
    assert "not text" in said and "unexpected" not in said
    assert not saved.exists()
    written = [export.stderr, *(p.read_bytes() for p in home.rglob("*") if p.is_file())]
    for quoted in (b"xff", b"udcff", b"position"):
        assert not any(quoted in data for data in written), quoted


def test_a_file_too_big_to_be_a_key_file_is_refused_unread(cli, tmp_path: Path, file_keyring):
    """`key import` of a disk image or a video by mistake: one line saying so, and the
    file is not read whole first (it was, to look at its first 21 bytes: a few GB in
    memory, then a MemoryError for a traceback)."""
    import tracemalloc

    big = tmp_path / "disk.img"
    with big.open("wb") as file:
        file.truncate(64 << 20)
    tracemalloc.start()
    try:
        result = cli("key", "import", str(big))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.code == 2, result.err
    assert "too big to be a recovery key file" in result.err
    assert peak < 16 << 20, f"{peak >> 20} MiB held to refuse it"


def test_the_identity_is_never_written_under_lifeboat_home(
    home: Path, tmp_path: Path, file_keyring: Path
):
    init = cli_process(home, "key", "init")
    assert init.returncode == 0 and "lifeboat key export" in init.stderr
    shown = cli_process(home, "key", "show", "--json")
    assert "AGE-SECRET-KEY" not in shown.stdout
    exported = tmp_path / "id.txt"
    assert cli_process(home, "key", "export", "--to", str(exported)).returncode == 0
    identity = next(
        line for line in exported.read_text().splitlines() if line.startswith("AGE-SECRET-KEY-1")
    )
    again = cli_process(home, "key", "export", "--to", str(exported))
    assert again.returncode == 2 and "already exists" in again.stderr
    protected = tmp_path / "id.age"
    assert (
        cli_process(
            home,
            "key",
            "export",
            "--to",
            str(protected),
            "--passphrase-stdin",
            input="a long passphrase\n",
        ).returncode
        == 0
    )
    wrong = cli_process(
        home, "key", "import", str(protected), "--passphrase-stdin", input="not it at all\n"
    )
    assert wrong.returncode == 2 and "does not open" in wrong.stderr
    right = cli_process(
        home, "key", "import", str(protected), "--passphrase-stdin", input="a long passphrase\n"
    )
    assert right.returncode == 0, right.stderr
    for path in (p for p in home.rglob("*") if p.is_file()):
        assert identity.encode() not in path.read_bytes(), f"the identity leaked to {path}"
        assert identity[20:40].encode() not in path.read_bytes()
