"""Secrets in the OS keyring (service "lifeboat"), behind one small interface.

Nothing secret is ever written to the config, the catalog, a log or an error message.

Where secrets go: the OS keyring keyring picks (Secret Service, KWallet, the macOS
Keychain, the Windows Credential Manager). A backend that keeps secrets in plain text
(keyrings.alt's PlaintextKeyring, and every keyrings.alt backend that is not an encrypted
one) is used only when the user named it for Lifeboat, with
LIFEBOAT_KEYRING_BACKEND=module.Class, which also selects any other backend by name. A
plain-text backend that keyring itself would pick (it is the only one installed, or a
keyringrc.cfg or PYTHON_KEYRING_BACKEND names it: choices made for every program, not
for Lifeboat) is refused with the user's options; we never fall back to plain text on our
own. `SecretStore.where()` says truthfully where secrets go.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lifeboat.foundation.errors import LifeboatError, OperationFailed

SERVICE = "lifeboat"
BACKEND_VARIABLE = "LIFEBOAT_KEYRING_BACKEND"
PLAIN_TEXT_EXAMPLE = "keyrings.alt.file.PlaintextKeyring"
#: Backends that keep secrets in the OS keyring, described for people.
_OS_KEYRINGS = {
    "keyring.backends.SecretService.Keyring": "the OS keyring (Secret Service)",
    "keyring.backends.libsecret.Keyring": "the OS keyring (Secret Service, libsecret)",
    "keyring.backends.kwallet.DBusKeyring": "the OS keyring (KWallet)",
    "keyring.backends.kwallet.DBusKeyringKWallet4": "the OS keyring (KWallet 4)",
    "keyring.backends.macOS.Keyring": "the macOS Keychain",
    "keyring.backends.Windows.WinVaultKeyring": "the Windows Credential Manager",
}


class KeyringUnavailable(LifeboatError):
    """No usable keyring backend: the user has to choose what to do (exit 2)."""


class KeyringLocked(OperationFailed):
    """The keyring is locked or access was denied: retry after unlocking it."""


@dataclass(frozen=True)
class S3Credentials:
    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:  # never print a secret, even by accident
        return "S3Credentials(<hidden>)"


class SecretStore:
    """One entry per name in the OS keyring (or the backend named for Lifeboat), under
    the service "lifeboat"."""

    def __init__(self, service: str = SERVICE) -> None:
        self.service = service

    def backend_name(self) -> str:
        return _class_name(self._backend())

    def where(self) -> str:
        """Where secrets are kept, for people: "the OS keyring (Secret Service)", "a
        plain-text file /home/me/.local/share/python_keyring/keyring_pass.cfg (chosen
        with LIFEBOAT_KEYRING_BACKEND)". KeyringUnavailable when nowhere."""
        return _describe(self._backend(), named=bool(_named_backend()))

    def place(self) -> str:
        """`where()` without asking the OS keyring (which may take a moment): for labels
        shown before anything is stored. Never raises."""
        if not _named_backend():
            return "the OS keyring"  # no other place is used unless named for Lifeboat
        try:
            return self.where()
        except LifeboatError:
            return f"the keyring named by {BACKEND_VARIABLE}"

    def put(self, name: str, value: str) -> None:
        import keyring.errors

        backend = self._backend()
        try:
            backend.set_password(self.service, name, value)
        except keyring.errors.KeyringLocked:
            raise _locked() from None
        except keyring.errors.KeyringError as exc:
            raise KeyringLocked(
                f"the keyring refused to store the secret: {type(exc).__name__}",
                "unlock or allow access to your keyring, then retry",
            ) from None

    def get(self, name: str) -> str | None:
        import keyring.errors

        backend = self._backend()
        try:
            return backend.get_password(self.service, name)
        except keyring.errors.KeyringLocked:
            raise _locked() from None
        except keyring.errors.KeyringError as exc:
            raise KeyringLocked(
                f"the keyring refused access: {type(exc).__name__}",
                "unlock or allow access to your keyring, then retry",
            ) from None

    def delete(self, name: str) -> bool:
        import keyring.errors

        backend = self._backend()
        try:
            backend.delete_password(self.service, name)
            return True
        except keyring.errors.PasswordDeleteError:
            return False
        except keyring.errors.KeyringLocked:
            raise _locked() from None

    def _backend(self) -> Any:
        """The backend secrets go to; KeyringUnavailable when there is none Lifeboat may
        use. Never a chain: a chain could hand a secret on to a plain-text backend."""
        named = _named_backend()
        backend = _load_named(named) if named else _first_of_chain(_keyring_choice())
        if _is_null(backend):
            raise KeyringUnavailable(
                "no usable OS keyring was found to keep the credentials"
                if not named
                else f"{BACKEND_VARIABLE}={named} names a backend that keeps nothing",
                _OPTIONS,
            )
        if not named and _plain_text(backend):
            raise KeyringUnavailable(
                f"the keyring backend {_class_name(backend)} ({_chosen_by()}) keeps "
                "secrets in plain text; Lifeboat uses a plain-text backend only when you "
                f"name it in {BACKEND_VARIABLE}",
                _PLAIN_OPTIONS,
            )
        return backend


def s3_entry(remote: str) -> str:
    return f"remote:{remote}"


def store_s3_credentials(store: SecretStore, remote: str, creds: S3Credentials) -> None:
    store.put(
        s3_entry(remote),
        json.dumps(
            {"access_key_id": creds.access_key_id, "secret_access_key": creds.secret_access_key}
        ),
    )


def load_s3_credentials(store: SecretStore, remote: str) -> S3Credentials:
    raw = store.get(s3_entry(remote))
    if raw is None:
        raise LifeboatError(
            f"no credentials for remote {remote!r} in {store.place()}",
            f"store them again: lifeboat remote add {remote} ... (or use --credentials env)",
        )
    try:
        data = json.loads(raw)
        return S3Credentials(str(data["access_key_id"]), str(data["secret_access_key"]))
    except (ValueError, KeyError, TypeError):
        raise LifeboatError(
            f"the keyring entry for remote {remote!r} is damaged",
            f"store the credentials again: lifeboat remote add {remote} ...",
        ) from None


_CREDENTIALS_ENV = (
    "or add the remote with --credentials env to use the standard AWS "
    "environment variables or ~/.aws/credentials"
)
_OPTIONS = (
    "install and unlock a keyring (GNOME Keyring, KWallet, KeePassXC's Secret "
    "Service, or the macOS/Windows one), " + _CREDENTIALS_ENV
)
_PLAIN_OPTIONS = (
    "install and unlock an OS keyring (GNOME Keyring, KWallet, KeePassXC's "
    "Secret Service), " + _CREDENTIALS_ENV + f", or, to keep Lifeboat's "
    f"secrets in a plain-text file anyway, set {BACKEND_VARIABLE}="
    f"{PLAIN_TEXT_EXAMPLE}"
)


def _locked() -> KeyringLocked:
    return KeyringLocked(
        "the keyring is locked or access to it was denied",
        "unlock your keyring (log in to the desktop session), then retry",
    )


def _named_backend() -> str:
    return os.environ.get(BACKEND_VARIABLE, "").strip()


def _load_named(name: str) -> Any:
    from keyring.core import load_keyring

    try:
        return load_keyring(name)
    except Exception as exc:  # no such module or class, or it is not viable here
        raise KeyringUnavailable(
            f"{BACKEND_VARIABLE}={name} does not name a keyring backend usable here "
            f"({type(exc).__name__})",
            f"name one by module and class, e.g. {PLAIN_TEXT_EXAMPLE}, or unset {BACKEND_VARIABLE}",
        ) from None


def _keyring_choice() -> Any:
    import keyring

    try:
        return keyring.get_keyring()
    except Exception as exc:  # a broken backend configuration
        raise KeyringUnavailable(
            f"the OS keyring cannot be used: {type(exc).__name__}", _OPTIONS
        ) from None


def _first_of_chain(backend: Any) -> Any:
    from keyring.backends import chainer, fail

    if isinstance(backend, chainer.ChainerBackend):
        return backend.backends[0] if backend.backends else fail.Keyring()
    return backend


def _is_null(backend: Any) -> bool:
    from keyring.backends import fail

    return isinstance(backend, fail.Keyring) or type(backend).__module__.endswith(".null")


def _plain_text(backend: Any) -> bool:
    """keyrings.alt's backends keep secrets in plain text (PlaintextKeyring) or in
    places no OS protects for this user alone (the registry, ...), except its encrypted
    ones; a wrapper is what it wraps."""
    inner = getattr(backend, "_keyring", None)
    if inner is not None and type(backend).__module__.startswith("keyrings.alt."):
        return _plain_text(inner)
    return (
        type(backend).__module__.startswith("keyrings.alt.")
        and "Encrypted" not in type(backend).__name__
    )


def _chosen_by() -> str:
    if os.environ.get("PYTHON_KEYRING_BACKEND"):
        return "chosen with PYTHON_KEYRING_BACKEND"
    try:
        from keyring.util import platform_

        config = Path(platform_.config_root()) / "keyringrc.cfg"
        if config.is_file() and "default-keyring" in config.read_text(errors="replace"):
            return f"chosen in {config}"
    except Exception:
        pass
    return "the only usable one here"


def _class_name(backend: object) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _describe(backend: object, *, named: bool) -> str:
    chosen = f" (chosen with {BACKEND_VARIABLE})" if named else ""
    known = _OS_KEYRINGS.get(_class_name(backend))
    if known:
        return known + chosen
    path = getattr(backend, "file_path", None)
    if _plain_text(backend) and isinstance(path, str):
        return f"a plain-text file {path}{chosen}"
    if isinstance(path, str):
        return f"an encrypted file {path}{chosen}"
    return f"the keyring backend {_class_name(backend)}{chosen}"
