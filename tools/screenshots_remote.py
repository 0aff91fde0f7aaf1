"""The pictures that need a remote, for tools/screenshots.py: Settings' Remote tab, the
"Save your recovery key" step, and History listing remote copies.

A moto S3 server process (tests/helpers/s3server.py) stands in for the provider; the
access key goes to a plain-file keyring under the temporary folder, chosen by name as a
user would (LIFEBOAT_KEYRING_BACKEND), never the desktop's own keyring."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def use_scratch_keyring(tmp: Path) -> None:
    import keyring.core

    os.environ["XDG_DATA_HOME"] = str(tmp / "xdg-data")
    os.environ["LIFEBOAT_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
    os.environ.pop("PYTHON_KEYRING_BACKEND", None)
    keyring.core.init_backend()


def add_uploaded_remote(service: Any) -> Any:
    """A remote "offsite" on a fresh S3 server process, both databases uploading there,
    their snapshots uploaded. Returns the server (stop it when done)."""
    from tests.helpers.s3server import start_s3_server

    server = start_s3_server()
    server.client().create_bucket(Bucket="lifeboat-backups")
    service.add_remote(
        "offsite",
        provider="minio",
        bucket="lifeboat-backups",
        endpoint=server.endpoint,
        prefix="laptop",
        access_key_id=server.access_key_id,
        secret=server.secret_access_key,
    )
    for name in ("notes", "crm"):
        service.update_source(name, remote="offsite")
        service.upload(name)
    return server


def remote_tab(shots: Any, tray_app: Any) -> None:
    tray_app.show_settings()
    dialog = tray_app._dialogs["settings"]
    shots.settle(500)
    dialog.tabs.setCurrentIndex(2)
    shots.settle(500)
    shots.save(dialog, "settings-remote")
    dialog.reject()
    shots.settle(300)


def recovery_key(shots: Any, service: Any) -> None:
    from lifeboat.core.encryption import generate_identity
    from lifeboat.gui.recovery_key import RecoveryKeyDialog

    _identity, recipient = generate_identity()
    dialog = RecoveryKeyDialog(service, recipient, new_key=True)
    dialog.show()
    shots.settle(400)
    shots.save(dialog, "recovery-key")
    dialog.reject()
    recovery_key_cancelled(shots, service)


def recovery_key_cancelled(shots: Any, service: Any) -> None:
    """A protected save under way (its scrypt takes seconds), then cancelled."""
    import tempfile

    from lifeboat.gui.recovery_key import RecoveryKeyDialog

    recipient = service.init_key() if not service.key_info().local else service.key_info().local[0]
    dialog = RecoveryKeyDialog(service, recipient, new_key=True)
    dialog.show()
    dialog.passphrase.setText("correct horse battery")
    dialog.repeat.setText("correct horse battery")
    with tempfile.TemporaryDirectory() as folder:
        dialog.save_to(Path(folder) / "recovery.age")
        shots.settle(300)
        shots.save(dialog, "recovery-key-saving")
        dialog.save_button.click()
        shots.wait_until(lambda: dialog.saved_label.text().startswith("Cancelled"))
        shots.save(dialog, "recovery-key-cancelled")
    dialog.reject()


def history_remote_copies(shots: Any, tray_app: Any) -> None:
    tray_app.show_history()
    dialog = tray_app._dialogs["history"]
    shots.wait_until(lambda: dialog.loaded > 0)
    dialog.resize(900, 480)
    dialog.snapshot_table.selectRow(0)
    shots.settle(400)
    shots.save(dialog, "history-remote-copies")
    dialog.close()
