"""Opening the store of a configured remote, with its credentials from the service's
secret store."""

from __future__ import annotations

from lifeboat.core.config_model import RemoteConfig
from lifeboat.core.secrets import SecretStore, load_s3_credentials
from lifeboat.core.stores import Credentials, RemoteStore


class StoreFactory:
    """The StoreOpener of a running Lifeboat: S3 stores, their keys from `secrets` (the
    one secret store the service was made with)."""

    def __init__(self, secrets: SecretStore) -> None:
        self.secrets = secrets

    def open(self, remote: RemoteConfig, *, credentials: Credentials | None = None) -> RemoteStore:
        """A connected store for `remote`: credentials from the keyring, unless given (a
        remote being tested before it is saved), or from the environment or a profile
        (credentials "env")."""
        from lifeboat.storage.s3 import S3Store  # boto3 only once a remote is used

        creds = None
        if remote.credentials == "keyring":
            creds = credentials or load_s3_credentials(self.secrets, remote.name)
        return S3Store(remote, creds)
