"""Remotes edited as drafts, the way the tray's Settings dialog stages them. No Qt here.

A `RemoteDraft` holds the texts of the form (blank: not set); `remote_problems` finds
every invalid field at once, so each can be shown next to its field, before anything is
saved. `save_all` then writes the staged remotes and sources through the service in the
one order that works: remotes added or changed, then the sources (which may now point to
them), then remotes removed (no source points to them any more).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from lifeboat.core.config import remote_problem, source_name, validate_value
from lifeboat.core.config_model import Config, RemoteConfig
from lifeboat.core.providers import PROVIDERS

# Imported where used, not here: these pull in heavy libraries (zstandard, apsw, APScheduler,
# numpy) or the jobs, which commands such as `lifeboat status` must not load at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    from lifeboat.service.source_changes import SourceDraft

if TYPE_CHECKING:
    from lifeboat.service import Service

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


NO_BUCKET = "give the bucket's name"
#: The settings a remote has (all but its name).
REMOTE_SETTINGS = frozenset(f.name for f in fields(RemoteConfig)) - {"name"}


def staged_remote(
    name: str,
    values: Mapping[str, object],
    *,
    current: RemoteConfig | None,
    taken: Collection[str],
    recipients: Sequence[str],
    key_id: str | None = None,
    secret: str | None = None,
    check_credentials: bool = True,
) -> tuple[RemoteConfig | None, list[tuple[str, str]]]:
    """A remote as added (`current` None) or changed, checked: its name, each value
    (validate_value), how they fit together (core.config.remote_problem) and the
    credentials given for the keyring. The one way the CLI, the service and the
    Settings dialog check a remote. A value None leaves that setting as it is.
    Returns the remote, or None and (field, problem) pairs. `taken`: other remotes' names."""
    problems = _name_problems(name, taken) if current is None else []
    clean = _valid_values(values, problems)
    if current is None:
        for key, missing in (
            ("provider", "choose a provider"),
            ("bucket", "give the bucket's name"),
        ):
            if key not in clean and key not in (k for k, _ in problems):
                problems.append((key, missing))
    if any(key != "name" for key, _ in problems):
        return None, problems  # it cannot be put together to check the rest
    if current is None:
        remote = RemoteConfig(name=name, provider=clean.pop("provider"), bucket=clean.pop("bucket"))
        remote = replace(remote, **clean)
    else:
        remote = replace(current, **clean)
    if (problem := remote_problem(remote, list(recipients))) is not None:
        problems.append(problem)
    keyring = check_credentials and remote.credentials == "keyring"
    if keyring and (problem := _keyring_problem(current, key_id, secret)) is not None:
        problems.append(problem)
    return (None if problems else remote), problems


def _name_problems(name: str, taken: Collection[str]) -> list[tuple[str, str]]:
    """What is wrong with the name of a new remote."""
    problems: list[tuple[str, str]] = []
    try:
        source_name(name)
    except ValueError as exc:
        problems.append(("name", str(exc)))
    if name in taken:
        problems.append(("name", f"a remote named {name!r} already exists"))
    return problems


def _valid_values(values: Mapping[str, object], problems: list[tuple[str, str]]) -> dict[str, Any]:
    """The values given, validated (None: left as it is); what is wrong goes to `problems`."""
    clean: dict[str, Any] = {}
    for key, value in values.items():
        if key not in REMOTE_SETTINGS:
            problems.append((key, f"unknown remote setting {key!r}"))
        elif value is not None:
            try:
                clean[key] = validate_value("remote", key, value)
            except ValueError as exc:
                problems.append((key, str(exc)))
    return clean


def _keyring_problem(
    current: RemoteConfig | None, key_id: str | None, secret: str | None
) -> tuple[str, str] | None:
    """What is wrong with the credentials given for a remote that keeps them in the keyring."""
    new_in_keyring = current is None or current.credentials != "keyring"
    if new_in_keyring and not (key_id and secret):
        return (
            "secret" if key_id else "access_key_id",
            "needed: it is stored with the other secrets, never in the config",
        )
    if bool(key_id) != bool(secret):
        return (
            "secret" if key_id else "access_key_id",
            "give both to replace the stored ones, or neither to keep them",
        )
    return None


def remote_problems(draft: RemoteDraft, config: Config, others: list[str]) -> dict[str, str]:
    """What is wrong with a draft, by field (empty: it can be saved). `others`: the names
    of the other remotes there will be."""
    if draft.provider not in PROVIDERS:
        return {"provider": f"unknown provider {draft.provider!r}"}
    key_id, secret = draft.credentials_given()
    problems: dict[str, str] = {}
    if not draft.bucket.strip():
        problems["bucket"] = NO_BUCKET  # blank is "unchanged" to staged_remote
    _, found = staged_remote(
        draft.name,
        draft.settings(),
        current=None if draft.is_new else config.remotes.get(draft.name),
        taken=others,
        recipients=config.general.recipients,
        key_id=key_id,
        secret=secret,
    )
    for key, text in found:
        problems.setdefault(key, text)
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
    from lifeboat.service.source_changes import apply_changes

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
