"""The "Import a recovery key" dialog: what it says stays said.

Its key file field asks whether the file needs a passphrase when editing finishes, and
editing finishes again as the focus leaves the field (the answer moves the focus to the
passphrase). The same file asked about again must not wipe out what an import said
(this flaked tests/gui/test_new_machine_restore.py: the import's "type the passphrase"
replaced by a blank line).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from lifeboat.gui.key_import import ImportKeyDialog
from lifeboat.gui.workers import wait_for_tasks
from lifeboat.service import Service
from tests.helpers.age_files import protect_cheaply
from tests.helpers.key_children import opener_children

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def key_file(tmp_path: Path, home: Path, file_keyring: Path) -> Path:
    path = tmp_path / "lifeboat-recovery-key.age"
    maker = Service()
    maker.init_key()
    maker.export_key(path, PASSPHRASE)
    return path


def settled() -> None:
    """Every background task done and its answer delivered to the dialog."""
    assert wait_for_tasks()
    QApplication.processEvents()


def test_editing_finished_again_does_not_wipe_out_the_import_message(
    qtbot, key_file: Path, monkeypatch: pytest.MonkeyPatch
):
    service = Service()
    asked: list[Path] = []
    real = service.key_file_protected

    def counted(path: Path) -> bool:
        asked.append(path)
        return real(path)

    monkeypatch.setattr(service, "key_file_protected", counted)
    dialog = ImportKeyDialog(service)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.choose(str(key_file))
    qtbot.waitUntil(lambda: dialog.protected and dialog.passphrase.isEnabled(), timeout=10_000)
    dialog.import_button.click()
    qtbot.waitUntil(lambda: "passphrase" in dialog.message.text(), timeout=20_000)
    dialog.path.editingFinished.emit()  # the focus left the field: the same file
    settled()
    assert "passphrase" in dialog.message.text(), "what the import said is still said"
    assert asked == [key_file], "the same file is asked about once"

    dialog.passphrase.setText(PASSPHRASE)
    dialog.import_button.click()
    qtbot.waitUntil(lambda: dialog.message.text().startswith("✓"), timeout=20_000)
    dialog.path.editingFinished.emit()
    settled()
    assert dialog.message.text().startswith("✓ Imported")


# Opening a protected key file: seconds of scrypt in a child process (core/key_passphrase.py)


@pytest.fixture
def other_machines_key(tmp_path: Path, home: Path, file_keyring: Path) -> tuple[Path, str]:
    """A key file another computer saved with a passphrase, and its recipient; this
    machine's keyring does not hold that key."""
    from lifeboat.core.encryption import (
        generate_identity,
        identity_file_text,
        protect_with_passphrase,
        write_private_file,
    )

    identity, recipient = generate_identity()
    path = tmp_path / "other-recovery-key.age"
    write_private_file(
        path, protect_with_passphrase(identity_file_text(identity).encode(), PASSPHRASE)
    )
    return path, recipient


@pytest.fixture
def cheaper_key(tmp_path: Path, home: Path, file_keyring: Path) -> tuple[Path, str]:
    """The same at a work factor of milliseconds (tests/helpers/age_files.py): for what
    the dialog says of a file, where the scrypt's seconds are not what is tested."""
    from lifeboat.core.encryption import generate_identity, identity_file_text

    identity, recipient = generate_identity()
    path = tmp_path / "other-recovery-key.age"
    path.write_bytes(protect_cheaply(identity_file_text(identity).encode(), PASSPHRASE))
    path.chmod(0o600)
    return path, recipient


class OpenerWatch:
    """A 20 ms timer on the GUI thread counting the ticks during which an opener runs:
    ticks that come while the scrypt works prove the event loop kept turning."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.ticks_while_opening = 0
        self.seen: list[int] = []
        self.timer = QTimer()
        self.timer.setInterval(20)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        children = opener_children()
        if children:
            self.ticks_while_opening += 1
            self.seen += [pid for pid in children if pid not in self.seen]


def start_dialog(qtbot, key_file: Path) -> ImportKeyDialog:
    dialog = ImportKeyDialog(Service())
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.choose(str(key_file))
    qtbot.waitUntil(lambda: dialog.passphrase.isEnabled(), timeout=10_000)
    return dialog


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="watches children in /proc")
def test_the_tray_keeps_turning_while_the_key_file_opens_and_the_key_is_imported(
    qtbot, other_machines_key: tuple[Path, str]
):
    key_file, recipient = other_machines_key
    dialog = start_dialog(qtbot, key_file)
    watch = OpenerWatch()
    dialog.passphrase.setText(PASSPHRASE)
    dialog.import_button.click()
    assert dialog.message.text() == "Opening the key file…"
    assert dialog.cancel_button.isEnabled() and not dialog.import_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.message.text().startswith("✓"), timeout=60_000)
    watch.timer.stop()
    assert watch.ticks_while_opening >= 3, "the GUI's timer fired while the scrypt ran"
    assert recipient in Service().key_info().local, "the key is now in this keyring"
    assert recipient in dialog.message.text()
    assert not dialog.cancel_button.isEnabled() and dialog.import_button.isEnabled()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="watches children in /proc")
def test_the_passphrase_goes_over_a_pipe_and_cancel_kills_the_opener(
    qtbot, other_machines_key: tuple[Path, str]
):
    key_file, recipient = other_machines_key
    dialog = start_dialog(qtbot, key_file)
    watch = OpenerWatch()
    dialog.passphrase.setText(PASSPHRASE)
    dialog.import_button.click()
    qtbot.waitUntil(lambda: bool(watch.seen), timeout=30_000)
    opener = watch.seen[0]
    seen_by_others = Path(f"/proc/{opener}/cmdline").read_bytes()
    seen_by_others += Path(f"/proc/{opener}/environ").read_bytes()
    assert PASSPHRASE.encode() not in seen_by_others, "never in argv or the environment"

    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: dialog.message.text().startswith("Cancelled"), timeout=20_000)
    watch.timer.stop()
    assert not Path(f"/proc/{opener}").exists(), "the opener was killed and reaped"
    assert dialog.message.text() == "Cancelled: the key file was not imported."
    assert recipient not in Service().key_info().local, "nothing was imported"
    assert dialog.import_button.isEnabled(), "it can be tried again"


def test_a_wrong_passphrase_says_so_and_imports_nothing(
    qtbot, cheaper_key: tuple[Path, str], caplog: pytest.LogCaptureFixture
):
    caplog.set_level("DEBUG")
    key_file, recipient = cheaper_key
    dialog = start_dialog(qtbot, key_file)
    dialog.passphrase.setText("not the passphrase at all")
    dialog.import_button.click()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=60_000)
    assert dialog.message.text() == (
        "The passphrase does not open this key file: check it and try again."
    )
    assert "not the passphrase at all" not in dialog.message.text() + caplog.text
    assert recipient not in Service().key_info().local


def test_a_damaged_key_file_says_so_not_to_check_the_passphrase(
    qtbot, cheaper_key: tuple[Path, str]
):
    """The right passphrase on a file with a flipped byte: retrying passphrases would
    never help, so the dialog says the file is damaged and to use another copy."""
    key_file, recipient = cheaper_key
    damaged = bytearray(key_file.read_bytes())
    damaged[-5] ^= 0x01
    key_file.write_bytes(bytes(damaged))
    dialog = start_dialog(qtbot, key_file)
    dialog.passphrase.setText(PASSPHRASE)
    dialog.import_button.click()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=60_000)
    assert dialog.message.text() == (
        "This key file is damaged: the passphrase is right, but its contents were changed "
        "or cut short. Use another copy of the recovery key."
    )
    assert recipient not in Service().key_info().local
