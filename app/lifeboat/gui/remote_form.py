"""One remote's settings in the Settings dialog: provider preset, where (endpoint,
bucket, region, folder), credentials, upload limit, encryption, and which databases are
uploaded there. Picking a preset fills the endpoint pattern and a region example; the
line under the preset shows where uploads will go. Problems are shown under their field.

Secrets: the secret access key is typed here and handed to the service, which puts it in
the OS keyring (or the backend named in LIFEBOAT_KEYRING_BACKEND: the form names the
place truthfully); a saved remote shows "stored in ..." instead (blank keeps it).
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from lifeboat.core.providers import PROVIDERS, endpoint_for
from lifeboat.gui.source_form import error_label, stacked
from lifeboat.gui.steady import reserve_lines
from lifeboat.service.remote_changes import RemoteDraft

REGION_EXAMPLES = {
    "s3": "eu-west-1",
    "cos": "ap-guangzhou",
    "b2": "us-west-004",
    "minio": "us-east-1",
    "r2": "auto",
    "gcs": "auto",
    "custom": "us-east-1",
}
STORED = "stored in {place} (leave blank to keep)"
FIELDS = (
    "name",
    "provider",
    "region",
    "account",
    "endpoint",
    "bucket",
    "prefix",
    "access_key_id",
    "secret",
    "max_upload_rate",
    "encrypt",
)


class RemoteForm(QWidget):
    changed = Signal()
    #: The user ticked or unticked "Encrypt" (the page decides: key first, or confirm).
    encrypt_clicked = Signal(bool)

    def __init__(
        self, parent: QWidget | None = None, *, secrets_place: str = "the OS keyring"
    ) -> None:
        super().__init__(parent)
        self.secrets_place = secrets_place  # where the service keeps the secret
        self.draft: RemoteDraft | None = None
        self._loading = False
        self._build_fields(secrets_place)
        self._lay_out()
        self._connect_edits()

    def _build_fields(self, secrets_place: str) -> None:
        self.name = _line("remote-name", max_length=64)
        self.provider = QComboBox()
        self.provider.setObjectName("remote-provider")
        for prov in PROVIDERS.values():
            self.provider.addItem(prov.title, prov.name)
        self.where = reserve_lines(QLabel())
        self.where.setObjectName("remote-where")
        self.where.setEnabled(False)
        self.region = _line("remote-region")
        self.account = _line("remote-account", "your Cloudflare account id")
        self.endpoint = _line("remote-endpoint")
        self.bucket = _line("remote-bucket", "the bucket's name, e.g. my-backups")
        self.prefix = _line("remote-prefix", "lifeboat")
        self.credentials = QComboBox()
        self.credentials.setObjectName("remote-credentials")
        self.credentials.addItem(f"Access key, kept in {secrets_place}", "keyring")
        self.credentials.addItem("AWS environment variables or ~/.aws/credentials", "env")
        # A long keyring place (a file's path) must not widen the form past the window.
        self.credentials.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.credentials.setMinimumContentsLength(24)
        self.credentials.setToolTip(self.credentials.itemText(0))
        self.access_key_id = _line("remote-access-key-id")
        self.secret = _line("remote-secret")
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.max_upload_rate = _line("remote-max-upload-rate", "no limit (e.g. 2MB/s)")
        self.encrypt = QCheckBox("Encrypt uploads (age): whoever holds the bucket cannot read them")
        self.encrypt.setObjectName("remote-encrypt")
        self.errors = {key: error_label(f"remote-{key}") for key in FIELDS}

    def _lay_out(self) -> None:
        """Each field with its problem under it, then the databases uploaded here."""
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Name:", stacked(self.name, self.errors["name"]))
        form.addRow("Provider:", stacked(self.provider, self.errors["provider"]))
        self._region_row = stacked(self.region, self.errors["region"])
        form.addRow("Region:", self._region_row)
        self._account_row = stacked(self.account, self.errors["account"])
        form.addRow("Account id:", self._account_row)
        form.addRow("Endpoint:", stacked(self.endpoint, self.errors["endpoint"]))
        form.addRow("Bucket:", stacked(self.bucket, self.errors["bucket"]))
        form.addRow("Folder in bucket:", stacked(self.prefix, self.errors["prefix"]))
        form.addRow("Credentials:", self.credentials)
        form.addRow("Access key id:", stacked(self.access_key_id, self.errors["access_key_id"]))
        form.addRow("Secret access key:", stacked(self.secret, self.errors["secret"]))
        form.addRow("Upload limit:", stacked(self.max_upload_rate, self.errors["max_upload_rate"]))
        form.addRow("Encryption:", stacked(self.encrypt, self.errors["encrypt"]))
        self.sources_box = QWidget()
        self.sources_box.setObjectName("remote-sources")
        self._sources_layout = QVBoxLayout(self.sources_box)
        self._sources_layout.setContentsMargins(0, 0, 0, 0)
        self.source_checks: list[QCheckBox] = []
        form.addRow("Upload snapshots of:", self.sources_box)
        # Last: it grows as the fields are typed and must push none of them down.
        form.addRow("", self.where)
        self._form = form

    def _connect_edits(self) -> None:
        for line in (
            self.name,
            self.region,
            self.account,
            self.endpoint,
            self.bucket,
            self.prefix,
            self.access_key_id,
            self.secret,
            self.max_upload_rate,
        ):
            line.textChanged.connect(self._edit)
        self.provider.currentIndexChanged.connect(self._edit)
        self.credentials.currentIndexChanged.connect(self._edit)
        self.encrypt.clicked.connect(self._encrypt_clicked)

    def load(
        self, draft: RemoteDraft, problems: dict[str, str], sources: list[tuple[str, str | None]]
    ) -> None:
        """Show a draft; `sources`: each database's name and the remote it uploads to."""
        self._loading = True
        try:
            self.draft = draft
            self.name.setText(draft.name)
            self.name.setReadOnly(not draft.is_new)
            self.name.setToolTip(
                ""
                if draft.is_new
                else "A remote keeps the name it was "
                "added with (its keyring entry is filed under it)"
            )
            self.provider.setCurrentIndex(max(0, self.provider.findData(draft.provider)))
            for key in (
                "region",
                "account",
                "endpoint",
                "bucket",
                "prefix",
                "max_upload_rate",
                "access_key_id",
                "secret",
            ):
                getattr(self, key).setText(getattr(draft, key))
            self.credentials.setCurrentIndex(max(0, self.credentials.findData(draft.credentials)))
            self.encrypt.setChecked(draft.encrypt)
            self._load_sources(draft.name, sources)
        finally:
            self._loading = False
        self._update_hints()
        self.show_problems(problems)

    def current(self) -> RemoteDraft:
        assert self.draft is not None
        texts = {
            key: getattr(self, key).text().strip()
            for key in (
                "region",
                "account",
                "endpoint",
                "bucket",
                "prefix",
                "max_upload_rate",
                "access_key_id",
            )
        }
        return replace(
            self.draft,
            name=self.name.text().strip() if self.draft.is_new else self.draft.name,
            provider=str(self.provider.currentData()),
            credentials=str(self.credentials.currentData()),
            secret=self.secret.text(),
            encrypt=self.encrypt.isChecked(),
            **texts,
        )

    def uploaded_sources(self) -> list[str]:
        return [box.property("source") for box in self.source_checks if box.isChecked()]

    def set_encrypt(self, on: bool) -> None:
        self.encrypt.setChecked(on)
        self.changed.emit()

    def show_problems(self, problems: dict[str, str]) -> None:
        for key, label in self.errors.items():
            label.setText(problems.get(key, ""))
            label.setVisible(key in problems)

    # -- helpers -----------------------------------------------------------------------

    def _load_sources(self, remote: str, sources: list[tuple[str, str | None]]) -> None:
        while (item := self._sources_layout.takeAt(0)) is not None:
            if (widget := item.widget()) is not None:
                widget.setParent(None)  # gone now, not at the next event loop pass
                widget.deleteLater()
        self.source_checks = []
        for name, uses in sources:
            box = QCheckBox(name if uses in (None, remote) else f"{name}  (now uploaded to {uses})")
            box.setObjectName(f"upload:{name}")
            box.setProperty("source", name)
            box.setChecked(uses == remote)
            box.toggled.connect(self._edit)
            self._sources_layout.addWidget(box)
            self.source_checks.append(box)
        if not sources:
            none = QLabel("No databases yet: add them on the Databases tab.")
            none.setEnabled(False)
            self._sources_layout.addWidget(none)

    def _edit(self) -> None:
        if self._loading:
            return
        self._update_hints()
        self.changed.emit()

    def _encrypt_clicked(self, on: bool) -> None:
        """Undo the click: the page turns it on only once a key is saved, or off once the
        user confirms."""
        self.encrypt.setChecked(not on)
        self.encrypt_clicked.emit(on)

    def _update_hints(self) -> None:
        prov = PROVIDERS[str(self.provider.currentData())]
        region = self.region.text().strip() or None
        self.region.setPlaceholderText(
            f"needed, e.g. {REGION_EXAMPLES[prov.name]}"
            if prov.needs_region
            else f"optional (default {prov.default_region})"
        )
        self._form.setRowVisible(self._account_row, prov.name == "r2")
        if prov.endpoint is not None:
            pattern = prov.endpoint.replace("{region}", "<region>").replace(
                "{account}", "<account id>"
            )
            self.endpoint.setPlaceholderText(f"{pattern} (from the preset)")
        elif prov.needs_endpoint:
            self.endpoint.setPlaceholderText("needed, e.g. https://s3.example.com:9000")
        else:
            self.endpoint.setPlaceholderText("chosen by AWS from the region")
        endpoint = self.endpoint.text().strip() or endpoint_for(
            prov, region, self.account.text().strip() or None
        )
        if endpoint is None and prov.name == "s3":
            endpoint = f"AWS S3 in {region}" if region else "AWS S3 (give the region)"
        bucket = self.bucket.text().strip() or "<bucket>"
        prefix = self.prefix.text().strip() or "lifeboat"
        self.where.setText(
            f"Uploads go to {endpoint or '<endpoint>'}, bucket {bucket}, folder {prefix}/"
        )
        keyring = self.credentials.currentData() == "keyring"
        saved = self.draft is not None and not self.draft.is_new
        for line in (self.access_key_id, self.secret):
            line.setEnabled(keyring)
            line.setPlaceholderText(
                STORED.format(place=self.secrets_place)
                if keyring and saved
                else ""
                if keyring
                else "not used"
            )


def _line(name: str, placeholder: str = "", max_length: int = 0) -> QLineEdit:
    line = QLineEdit()
    line.setObjectName(name)
    line.setPlaceholderText(placeholder)
    if max_length:
        line.setMaxLength(max_length)
    return line
