"""The service's remote operations: add, change, test and remove remotes; upload.

Part of the `Service` façade (service.py mixes this in); no Qt, and boto3 is only
imported when a remote is actually contacted.
"""

from __future__ import annotations

import logging
import secrets as pysecrets
import time
from typing import TYPE_CHECKING

from lifeboat.core.config_model import RemoteConfig
from lifeboat.core.remote_keys import object_key
from lifeboat.core.secrets import (
    S3Credentials,
    SecretStore,
    s3_entry,
    store_s3_credentials,
)
from lifeboat.foundation.errors import ConfigError, LifeboatError, RemoteError
from lifeboat.foundation.progress import CancelToken, Progress, no_progress
from lifeboat.foundation.states import Trigger

# Imported here for the type checker only; at run time inside the functions that use
# them: they load heavy libraries (zstandard, apsw, APScheduler, numpy) or the jobs,
# which commands such as `lifeboat status` must not pay for at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    from lifeboat.core.results import RemoteTest, UploadResult


if TYPE_CHECKING:
    from lifeboat.core.stores import StoreOpener
    from lifeboat.core.workspace import Workspace
    from lifeboat.foundation.events import Event

log = logging.getLogger(__name__)


class RemoteMethods:
    if TYPE_CHECKING:

        def publish(self, event: Event) -> None: ...  # Service's

    workspace: Workspace
    secrets: SecretStore
    stores: StoreOpener

    def remotes(self) -> list[RemoteConfig]:
        return list(self.workspace.config().remotes.values())

    def add_remote(
        self,
        name: str,
        *,
        access_key_id: str | None = None,
        secret: str | None = None,
        **settings: object,
    ) -> RemoteConfig:
        """Add a remote; with credentials "keyring" (the default) the key id and secret go
        to the OS keyring first, so a failure there saves nothing."""
        remote = self._checked_remote(name, settings, None, access_key_id, secret)
        if remote.credentials == "keyring" and access_key_id and secret:
            store_s3_credentials(self.secrets, name, S3Credentials(access_key_id, secret))
        with self.workspace.edit_config() as edit:
            if name in edit.config.remotes:
                raise ConfigError(f"a remote named {name!r} already exists", "choose another")
            edit.config = edit.config.with_remote(remote)
        log.info("added remote %s (%s, bucket %s)", name, remote.provider, remote.bucket)
        return remote

    def update_remote(
        self,
        name: str,
        *,
        access_key_id: str | None = None,
        secret: str | None = None,
        **changes: object,
    ) -> RemoteConfig:
        current = self.workspace.config().remote(name)
        remote = self._checked_remote(name, changes, current, access_key_id, secret)
        if access_key_id and secret:
            store_s3_credentials(self.secrets, name, S3Credentials(access_key_id, secret))
        with self.workspace.edit_config() as edit:
            edit.config = edit.config.with_remote(remote)
        return remote

    def remove_remote(self, name: str) -> None:
        """Forget a remote and its keyring entry (its objects stay in the bucket)."""
        config = self.workspace.config()
        config.remote(name)
        users = [s.name for s in config.sources.values() if s.remote == name]
        if users:
            raise ConfigError(
                f"remote {name!r} is used by source(s) {', '.join(users)}",
                "point them elsewhere first: lifeboat source set NAME --remote …",
            )
        with self.workspace.edit_config() as edit:
            edit.config = edit.config.without_remote(name)
        if config.remotes[name].credentials == "keyring":
            try:
                self.secrets.delete(s3_entry(name))
            except LifeboatError as exc:
                log.warning("could not delete the keyring entry of %s: %s", name, exc.message)
        for record in self.workspace.catalog.snapshots():
            if record.copy_on(name) is not None:
                self.workspace.catalog.remove_remote_copy(record.id, name)

    def draft_remote(self, name: str, **settings: object) -> RemoteConfig:
        """The remote as `add_remote` (new name) or `update_remote` (known name) would save
        it with these settings: validated, nothing stored. ConfigError if it cannot be."""
        current = self.workspace.config().remotes.get(name)
        # Credentials are checked when they are saved or tested, not here.
        return self._checked_remote(name, settings, current, None, None, credentials=False)

    def test_remote(
        self,
        name: str,
        *,
        access_key_id: str | None = None,
        secret: str | None = None,
        **settings: object,
    ) -> RemoteTest:
        """Write, read back and delete a small object; a clear error for what fails.

        With settings or credentials, test those values as they would be saved (over the
        saved remote, or as a new one) before saving them; nothing is stored. Credentials
        left out come from the keyring entry of the saved remote."""
        from lifeboat.core.results import RemoteTest

        if settings or access_key_id or secret:
            remote = self.draft_remote(name, **settings)
            creds = None
            if remote.credentials == "keyring" and (access_key_id or secret):
                if not (access_key_id and secret):
                    raise ConfigError(
                        "give both the access key id and the secret",
                        "or neither, to use the ones in the keyring",
                    )
                creds = S3Credentials(access_key_id, secret)
        else:
            remote, creds = self.workspace.config().remote(name), None
        started = time.monotonic()
        store = self.stores.open(remote, credentials=creds)
        try:
            key = object_key(remote.prefix, ".lifeboat-test", pysecrets.token_hex(8))
            body = pysecrets.token_bytes(256)
            store.put_bytes(key, body, metadata={"lifeboat-test": "1"})
            try:
                if store.get_bytes(key) != body:
                    raise RemoteError(
                        f"remote {name} returned other bytes than were written",
                        "check the endpoint; a proxy may alter data",
                    )
            finally:
                store.delete(key)
            if store.head(key) is not None:
                raise RemoteError(
                    f"remote {name} did not delete the test object {key}",
                    "check that the key may delete objects in the bucket",
                )
        finally:
            store.close()
        endpoint = remote.resolved_endpoint or f"AWS S3 ({remote.resolved_region})"
        return RemoteTest(name, endpoint, remote.bucket, time.monotonic() - started)

    def upload(
        self,
        source: str,
        *,
        trigger: Trigger = Trigger.MANUAL,
        job_id: int | None = None,
        attempt: int = 1,
        reencrypt: bool = False,
        progress: Progress = no_progress,
        cancel: CancelToken | None = None,
    ) -> UploadResult:
        """Upload what the source's remote is missing, oldest first; prune the remote;
        with `reencrypt`, replace its plaintext copies by encrypted ones."""
        from lifeboat.jobs.base import run_job
        from lifeboat.jobs.upload import UploadJob

        outcome = run_job(
            UploadJob(self.workspace, source, reencrypt=reencrypt),
            self.workspace.catalog,
            trigger=trigger,
            attempt=attempt,
            job_id=job_id,
            progress=progress,
            cancel=cancel,
            on_event=self.publish,
        )
        return outcome.result

    def _checked_remote(
        self,
        name: str,
        settings: dict[str, object],
        current: RemoteConfig | None,
        access_key_id: str | None,
        secret: str | None,
        *,
        credentials: bool = True,
    ) -> RemoteConfig:
        from lifeboat.service.remote_changes import staged_remote

        config = self.workspace.config()
        remote, problems = staged_remote(
            name,
            settings,
            current=current,
            taken=config.remotes,
            recipients=config.general.recipients,
            key_id=access_key_id,
            secret=secret,
            check_credentials=credentials,
        )
        if remote is None:
            key, problem = problems[0]
            hint = _CLI_HINTS.get(key, "see `lifeboat remote add --help`")
            raise ConfigError(f"{key}: {problem}", hint)
        return remote


#: What to do about each kind of problem, in the command line's words.
_CLI_HINTS = {
    "name": "choose another name, or change it with `lifeboat remote set`",
    "access_key_id": "give --access-key-id and the secret (prompted, or --secret-stdin), "
    "or use --credentials env",
    "secret": "give --access-key-id and the secret (prompted, or --secret-stdin), "
    "or use --credentials env",
}
