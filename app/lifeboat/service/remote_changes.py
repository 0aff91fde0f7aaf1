"""Remotes edited as drafts, the way the tray's Settings dialog stages them. No Qt here.

A `RemoteDraft` holds the texts of the form (blank: not set); `remote_problems` finds
every invalid field at once, so each can be shown next to its field, before anything is
saved. `save_all` then writes the staged remotes and sources through the service in the
one order that works: remotes added or changed, then the sources (which may now point to
them), then remotes removed (no source points to them any more).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from lifeboat.core.config import remote_problem, source_name, validate_value
from lifeboat.core.config_model import Config, RemoteConfig
from lifeboat.core.providers import PROVIDERS
from lifeboat.service import Service
from lifeboat.service.source_changes import SourceDraft, apply_changes

log = logging.getLogger(__name__)

#: The remote settings the form edits as text (blank: not set).
TEXT_FIELDS = ("bucket", "region", "endpoint", "account", "prefix", "max_upload_rate")


@dataclass(frozen=True)
class RemoteDraft:
    name: str
    provider: str = "s3"
    bucket: str = ""
    region: str = ""
    endpoint: str = ""
    account: str = ""
    prefix: str = "lifeboat"
    credentials: str = "keyring"  # keyring | env
    max_upload_rate: str = ""
    encrypt: bool = False
    #: New credentials for the keyring; blank keeps the stored ones of a saved remote.
    access_key_id: str = field(default="", repr=False)
    secret: str = field(default="", repr=False)
    is_new: bool = False

    @classmethod
    def of(cls, remote: RemoteConfig) -> RemoteDraft:
        return cls(
            name=remote.name,
            provider=remote.provider,
            bucket=remote.bucket,
            region=remote.region or "",
            endpoint=remote.endpoint or "",
            account=remote.account or "",
            prefix=remote.prefix,
            credentials=remote.credentials,
            max_upload_rate=remote.max_upload_rate or "",
            encrypt=remote.encrypt,
        )

    def settings(self) -> dict[str, object]:
        """The values for Service.add_remote / update_remote / test_remote."""
        values: dict[str, object] = {key: getattr(self, key).strip() or None for key in TEXT_FIELDS}
        values.update(provider=self.provider, credentials=self.credentials, encrypt=self.encrypt)
        return values

    def credentials_given(self) -> tuple[str | None, str | None]:
        return self.access_key_id.strip() or None, self.secret or None

    def without_credentials(self) -> RemoteDraft:
        return replace(self, access_key_id="", secret="")


def remote_problems(draft: RemoteDraft, config: Config, others: list[str]) -> dict[str, str]:
    """What is wrong with a draft, by field (empty: it can be saved). `others`: the names
    of the other remotes there will be."""
    problems: dict[str, str] = {}
    if draft.is_new:
        try:
            source_name(draft.name)
        except ValueError as exc:
            problems["name"] = str(exc)
        if draft.name in others:
            problems["name"] = f"a remote named {draft.name!r} already exists"
    if draft.provider not in PROVIDERS:
        problems["provider"] = f"unknown provider {draft.provider!r}"
        return problems
    if not draft.bucket.strip():
        problems["bucket"] = "give the bucket's name"
    clean: dict[str, object] = {}
    for key, value in draft.settings().items():
        if value is None or key in problems:
            continue
        try:
            clean[key] = validate_value("remote", key, value)
        except ValueError as exc:
            problems[key] = str(exc)
    key_id, secret = draft.credentials_given()
    if draft.credentials == "keyring":
        if draft.is_new and not (key_id and secret):
            problems["secret" if key_id else "access_key_id"] = (
                "needed: it is stored with the other secrets, never in the config"
            )
        elif bool(key_id) != bool(secret):
            problems["secret" if key_id else "access_key_id"] = (
                "give both to replace the stored ones, or neither to keep them"
            )
    if not problems:
        clean.pop("encrypt", None)
        remote = RemoteConfig(name=draft.name, encrypt=draft.encrypt, **clean)  # type: ignore[arg-type]
        if (problem := remote_problem(remote, config.general.recipients)) is not None:
            problems[problem[0]] = problem[1]
    return problems


def save_all(
    service: Service,
    remotes: list[RemoteDraft],
    removed_remotes: list[str],
    sources: list[SourceDraft],
    removed_sources: list[str],
) -> None:
    """Write the staged remotes and sources (check them first with remote_problems and
    source_changes.check_changes: then only I/O can fail here)."""
    saved = service.workspace.config().remotes
    for draft in remotes:
        key_id, secret = draft.credentials_given()
        if draft.is_new:
            service.add_remote(draft.name, access_key_id=key_id, secret=secret, **draft.settings())
        elif key_id or draft.without_credentials() != RemoteDraft.of(saved[draft.name]):
            service.update_remote(
                draft.name, access_key_id=key_id, secret=secret, **draft.settings()
            )
    apply_changes(service.workspace, sources, removed_sources)
    for name in removed_remotes:
        service.remove_remote(name)
    if remotes or removed_remotes:
        log.info(
            "remotes saved: %d added, %d removed",
            sum(d.is_new for d in remotes),
            len(removed_remotes),
        )
