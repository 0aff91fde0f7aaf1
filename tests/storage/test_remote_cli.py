"""`lifeboat remote ...` as a user meets it: clear errors, keyring entries, listings."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import cli_process
from tests.helpers.databases import make_db


def add(
    home: Path,
    s3_server,
    name: str,
    bucket: str,
    *extra: str,
    secret: str | None = None,
    env: dict[str, str] | None = None,
):
    args = [
        "remote",
        "add",
        name,
        "--provider",
        "minio",
        "--bucket",
        bucket,
        "--endpoint",
        s3_server.endpoint,
        "--prefix",
        "lb",
        "--access-key-id",
        s3_server.access_key_id,
        "--secret-stdin",
        *extra,
    ]
    return cli_process(
        home,
        *args,
        input=(secret or s3_server.secret_access_key) + "\n",
        env={**os.environ, "LIFEBOAT_HOME": str(home), **(env or {})},
    )


def one_line_error(result, code: int, words: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: ") and words in first, result.stderr
    assert "Traceback" not in result.stderr


def test_add_list_test_remove(home: Path, s3_server, bucket: str, file_keyring: Path):
    assert add(home, s3_server, "offsite", bucket).returncode == 0
    listed = json.loads(cli_process(home, "remote", "list", "--json").stdout)
    assert listed[0]["name"] == "offsite" and listed[0]["credentials"] == "keyring"
    assert "secret" not in json.dumps(listed).lower()
    tested = cli_process(home, "remote", "test", "offsite")
    assert tested.returncode == 0 and "works" in tested.stdout
    duplicate = add(home, s3_server, "offsite", bucket)
    one_line_error(duplicate, 2, "already exists")
    keyring_file = next(p for p in file_keyring.rglob("*") if p.is_file())
    assert "remote_3aoffsite" in keyring_file.read_text()  # the backend escapes ":"
    assert cli_process(home, "remote", "remove", "offsite").returncode == 0
    assert "remote_3aoffsite" not in keyring_file.read_text()
    assert json.loads(cli_process(home, "remote", "list", "--json").stdout) == []


@pytest.mark.parametrize(
    ("case", "code", "words"),
    [
        ("unknown provider", 2, "invalid choice"),
        ("bad endpoint", 2, "not an http(s) URL"),
        ("missing region", 2, "needs a region"),
        ("bad prefix", 2, "not a plain name"),
        ("bad rate", 2, "not a rate"),
        ("empty secret", 2, "empty line"),
    ],
)
def test_bad_remote_settings(
    home: Path, s3_server, file_keyring: Path, case: str, code: int, words: str
):
    base = [
        "remote",
        "add",
        "r",
        "--bucket",
        "b-ucket",
        "--access-key-id",
        "AKIA",
        "--secret-stdin",
    ]
    extra = {
        "unknown provider": ["--provider", "dropbox"],
        "bad endpoint": ["--provider", "minio", "--endpoint", "ftp://host"],
        "missing region": ["--provider", "cos"],
        "bad prefix": ["--provider", "minio", "--endpoint", "http://h", "--prefix", "a/../b"],
        "bad rate": ["--provider", "minio", "--endpoint", "http://h", "--max-upload-rate", "fast"],
        "empty secret": ["--provider", "minio", "--endpoint", "http://h"],
    }[case]
    result = cli_process(home, *base, *extra, input="" if case == "empty secret" else "s\n")
    one_line_error(result, code, words)
    assert (
        not (home / "config.toml").exists() or "[remotes" not in (home / "config.toml").read_text()
    )


def test_bucket_missing_and_wrong_credentials(
    home: Path, s3_server, file_keyring: Path, bucket: str
):
    assert add(home, s3_server, "nobucket", "no-such-bucket-here").returncode == 0
    one_line_error(cli_process(home, "remote", "test", "nobucket"), 1, "does not exist")
    assert add(home, s3_server, "badkey", bucket, secret="not-the-secret").returncode == 0
    one_line_error(cli_process(home, "remote", "test", "badkey"), 1, "refused the credentials")


def test_no_keyring_backend(home: Path, s3_server, tmp_path: Path):
    env = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    result = add(home, s3_server, "offsite", "some-bucket", env=env)
    one_line_error(result, 2, "no usable OS keyring")
    assert "--credentials env" in result.stderr
    assert not (home / "config.toml").exists()
    plain_only = cli_process(
        home,
        "remote",
        "add",
        "offsite",
        "--provider",
        "minio",
        "--bucket",
        "some-bucket",
        "--endpoint",
        s3_server.endpoint,
        "--access-key-id",
        "AKIA",
        "--secret-stdin",
        input="s\n",
        env={
            **{k: v for k, v in os.environ.items() if k != "PYTHON_KEYRING_BACKEND"},
            "LIFEBOAT_HOME": str(home),
            "XDG_CONFIG_HOME": str(tmp_path / "c"),
        },
    )
    # With no explicit choice, the plain-text file backend is refused, never used silently.
    one_line_error(plain_only, 2, "plain text")


def test_env_credentials(home: Path, s3_server, bucket: str, tmp_path: Path):
    env = {
        **os.environ,
        "LIFEBOAT_HOME": str(home),
        "AWS_ACCESS_KEY_ID": s3_server.access_key_id,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_access_key,
    }
    added = cli_process(
        home,
        "remote",
        "add",
        "envy",
        "--provider",
        "minio",
        "--bucket",
        bucket,
        "--endpoint",
        s3_server.endpoint,
        "--credentials",
        "env",
        env=env,
    )
    assert added.returncode == 0, added.stderr
    assert cli_process(home, "remote", "test", "envy", env=env).returncode == 0
    missing = cli_process(
        home,
        "remote",
        "test",
        "envy",
        env={k: v for k, v in env.items() if not k.startswith("AWS_")}
        | {
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
        },
    )
    one_line_error(missing, 2, "no credentials found")


def test_sources_and_remotes_refer_to_each_other(
    home: Path, s3_server, bucket: str, tmp_path: Path, file_keyring: Path
):
    db = make_db(tmp_path / "notes.db")
    unknown = cli_process(home, "source", "add", str(db), "--remote", "nowhere")
    one_line_error(unknown, 2, "no remote named")
    add(home, s3_server, "offsite", bucket)
    assert cli_process(home, "source", "add", str(db), "--remote", "offsite").returncode == 0
    one_line_error(cli_process(home, "remote", "remove", "offsite"), 2, "used by source")
    snaps = json.loads(cli_process(home, "backup", "notes", "--json").stdout)
    assert snaps["uploaded"] == [snaps["id"]]
    listing = cli_process(home, "snapshots")
    assert "local+offsite" in listing.stdout
