"""History's actions on a snapshot's files: Save a copy… (the name proposed and the
save dialog), Show in folder, and Upload now (when each is possible, and why not), with
what they say when done. The dialog (history_dialog.py) runs them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QWidget

from lifeboat.core.catalog_records import SnapshotRecord
from lifeboat.core.config_model import SourceConfig
from lifeboat.core.results import RestoreOutcome, UploadResult
from lifeboat.foundation.errors import LifeboatError
from lifeboat.gui.restore_pages import free_name
from lifeboat.gui.text import plural, short_time, size_text

DATABASE_FILTER = "SQLite databases (*.db *.sqlite *.sqlite3);;All files (*)"


def proposed_copy(record: SnapshotRecord, source: SourceConfig | None) -> Path:
    """A free name for the copy: beside the database (home when it is no longer backed
    up), named after it and the snapshot's time."""
    folder = source.path.parent if source is not None else Path.home()
    stem = source.path.stem if source is not None else record.source
    suffix = source.path.suffix if source is not None and source.path.suffix else ".db"
    stamp = record.manifest.created_at.astimezone().strftime("%Y%m%d-%H%M")
    return free_name(folder, f"{stem}-copy-{stamp}", suffix)


def ask_copy_path(parent: QWidget, proposed: Path, chosen: Callable[[Path], None]) -> QFileDialog:
    """The save dialog, at the proposed name. It does not offer to replace a file: a
    copy is never written over one (the service refuses; the dialog says so)."""
    picker = QFileDialog(parent, "Save a copy of the snapshot", str(proposed), DATABASE_FILTER)
    picker.setObjectName("save-copy-picker")
    picker.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    picker.setOption(QFileDialog.Option.DontConfirmOverwrite, True)
    picker.selectFile(str(proposed))
    picker.fileSelected.connect(lambda path: chosen(Path(path)))
    picker.open()
    return picker


def name_taken(to: Path) -> LifeboatError:
    return LifeboatError(
        f"{to} already exists", "choose another name: a copy is never saved over a file"
    )


def saved_text(record: SnapshotRecord, outcome: RestoreOutcome) -> str:
    rebuilt = " (rebuilt on its full snapshot)" if record.manifest.kind == "diff" else ""
    return (
        f"Saved the snapshot of {record.source} taken {short_time(record.manifest.created_at)}"
        f"{rebuilt} as {outcome.target}. It was verified: it opens as it was then."
    )


def folder_unavailable(record: SnapshotRecord) -> str | None:
    """Why Show in folder cannot open the snapshot's folder, or None if it can."""
    if not record.local:
        return "This snapshot is kept on the remote only: there is no file on this computer."
    if record.status == "missing":
        return "This snapshot's file is missing from this computer."
    return None


def show_in_folder(record: SnapshotRecord) -> bool:
    """Open the folder that holds the snapshot's file with the desktop's file manager."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(record.path.parent)))


def upload_unavailable(record: SnapshotRecord, remote: str | None) -> str | None:
    """Why Upload now cannot run for the snapshot's database, or None if it can."""
    if remote is None:
        return f"{record.source} is not uploaded to a remote. Choose one in Settings."
    return None


def upload_tip(record: SnapshotRecord, remote: str | None) -> str:
    why_not = upload_unavailable(record, remote)
    if why_not:
        return why_not
    return f"Send the snapshots of {record.source} that {remote} does not hold yet"


def uploaded_text(source: str, remote: str, result: UploadResult) -> str:
    if not result.uploaded:
        return f"Nothing to send: {remote} already holds every snapshot of {source} it keeps."
    return (
        f"Uploaded {plural(len(result.uploaded), 'snapshot')} of {source} to {remote} "
        f"({size_text(result.bytes)})."
    )
