"""One validator for a remote: the CLI, the service and the Settings dialog ask the same."""

from __future__ import annotations

from pathlib import Path

from lifeboat.core.config_model import Config, GeneralConfig, RemoteConfig
from lifeboat.service.remote_changes import RemoteDraft, remote_problems, staged_remote

SAVED = RemoteConfig(name="offsite", provider="s3", bucket="my-bucket", region="eu-west-1")


def test_a_new_remote_needs_a_free_valid_name_a_provider_a_bucket_and_its_keys():
    remote, problems = staged_remote("offsite", {}, current=None, taken={"offsite"}, recipients=[])
    assert remote is None
    assert [k for k, _ in problems] == ["name", "provider", "bucket"]
    remote, problems = staged_remote(
        "two words",
        {"provider": "s3", "bucket": "my-bucket", "region": "eu-west-1"},
        current=None,
        taken=(),
        recipients=[],
    )
    assert remote is None and [k for k, _ in problems] == ["name", "access_key_id"]


def test_values_are_checked_each_and_together():
    _, problems = staged_remote(
        "new",
        {"provider": "s3", "bucket": "my-bucket", "part_size": "lots", "colour": "red"},
        current=None,
        taken=(),
        recipients=[],
        key_id="id",
        secret="s",
    )
    assert sorted(k for k, _ in problems) == ["colour", "part_size"]
    _, problems = staged_remote(
        "new",
        {"provider": "s3", "bucket": "my-bucket", "region": "eu-west-1", "encrypt": True},
        current=None,
        taken=(),
        recipients=[],
        key_id="id",
        secret="s",
    )
    assert [k for k, _ in problems] == ["encrypt"]  # no key to encrypt to yet


def test_a_change_keeps_what_is_not_given_and_needs_both_keys_or_neither():
    remote, problems = staged_remote(
        "offsite",
        {"prefix": "elsewhere", "region": None},
        current=SAVED,
        taken=(),
        recipients=[],
    )
    assert problems == [] and remote is not None
    assert (remote.prefix, remote.region, remote.bucket) == ("elsewhere", "eu-west-1", "my-bucket")
    _, problems = staged_remote("offsite", {}, current=SAVED, taken=(), recipients=[], key_id="id")
    assert [k for k, _ in problems] == ["secret"]


def test_the_dialog_sees_the_same_problems_by_field():
    config = Config(path=Path("/nowhere.toml"), general=GeneralConfig(), remotes={"offsite": SAVED})
    draft = RemoteDraft(
        name="offsite",
        provider="s3",
        bucket="",
        region="eu-west-1",
        is_new=True,
        access_key_id="id",
        secret="s",
    )
    problems = remote_problems(draft, config, others=["offsite"])
    assert set(problems) == {"name", "bucket"}
    assert remote_problems(RemoteDraft(name="x", provider="dropbox"), config, []) == {
        "provider": "unknown provider 'dropbox'"
    }
