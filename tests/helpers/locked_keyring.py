"""A keyring backend that is locked, as a desktop keyring is before the user unlocks it:
every access raises keyring.errors.KeyringLocked. Chosen by name for Lifeboat with
LIFEBOAT_KEYRING_BACKEND=tests.helpers.locked_keyring.LockedKeyring."""

from __future__ import annotations

import keyring.backend
import keyring.errors


class LockedKeyring(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]  # viable: keyring checks it when loading

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("the collection is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringLocked("the collection is locked")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.KeyringLocked("the collection is locked")
