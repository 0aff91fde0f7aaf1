"""Opening the store of a configured remote, with its credentials."""

from __future__ import annotations

from lifeboat.core.config_model import RemoteConfig
from lifeboat.core.secrets import S3Credentials, SecretStore, load_s3_credentials
from lifeboat.storage.base import RemoteStore


def open_store(
    remote: RemoteConfig,
    secrets: SecretStore | None = None,
    *,
    credentials: S3Credentials | None = None,
) -> RemoteStore:
    """A connected store for `remote` (credentials from the keyring or the environment,
    unless given: a remote being tested before it is saved)."""
    from lifeboat.storage.s3 import S3Store

    creds = None
    if remote.credentials == "keyring":
        creds = credentials or load_s3_credentials(secrets or SecretStore(), remote.name)
    return S3Store(remote, creds)
