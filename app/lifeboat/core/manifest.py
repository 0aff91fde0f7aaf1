"""The manifest that sits beside every artifact, and the artifact naming scheme.

The files are the truth: a manifest carries everything the catalog needs, so the catalog
can be rebuilt by reading manifests. See docs/FORMAT.md.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
from dataclasses import MISSING, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifeboat.core.fsutil import atomic_write_bytes

if TYPE_CHECKING:
    from collections.abc import Mapping

    from lifeboat.core.runs import Run

#: 3: full and differential artifacts are seekable (independent zstd frames and a seek
#: table, docs/FORMAT.md); a reader of format 2 would misjudge their size, so it refuses.
FORMAT_VERSION = 3
FULL_SUFFIX = ".sqlite.zst"
DIFF_SUFFIX = ".diff.zst"
PAGES_SUFFIX = ".pages"
#: a continuous base's page owners (core/history/owners_file.py)
OWNERS_SUFFIX = ".owners"
MANIFEST_SUFFIX = ".json"
PARTIAL_SUFFIX = ".partial"
AGE_SUFFIX = ".age"  # an artifact encrypted with age: <artifact>.age
LOCAL_ENCRYPTION = "local_encryption"  # manifest key: the file kept here is encrypted
REMOTE_ENCRYPTION = "encryption"  # a remote manifest's key: the object is encrypted
#: manifest key: what the snapshot's check could not check, and why (core/dbcheck.py)
UNCHECKED_KEY = "check_unchecked"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
SOURCE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
SNAPSHOT_ID_RE = re.compile(r"^[0-9a-f]{8}$")
STEM_RE = re.compile(
    r"^(?P<source>[A-Za-z0-9][A-Za-z0-9_-]{0,63})-(?P<ts>\d{8}T\d{6}Z)-(?P<id>[0-9a-f]{8})$"
)
RAW_SUFFIX = ".raw"  # a raw safety copy: a folder of the database's files
#: The artifact a manifest of each kind names: always its own stem plus this.
ARTIFACT_SUFFIXES = {"full": FULL_SUFFIX, "diff": DIFF_SUFFIX, "raw": RAW_SUFFIX}
REASONS = ("manual", "scheduled", "catch-up", "pre-restore", "pre-migration", "pinned", "other")


class ManifestError(ValueError):
    """A manifest file is unreadable or does not describe a snapshot."""


class NewerManifest(ManifestError):
    """A manifest written by a newer Lifeboat (a format this version does not know): it
    and its artifact are kept untouched."""

    def __init__(self, fmt: int) -> None:
        super().__init__(
            f"written by a newer Lifeboat (manifest format {fmt}); upgrade Lifeboat to use it"
        )
        self.format = fmt


@dataclass(frozen=True)
class Sealed:
    """How an artifact is encrypted (age, to `recipients`). `size` and `sha256` describe
    the ciphertext; the manifest's own describe the zstd artifact inside it. A remote
    manifest's record also names the encrypted object. `size` is None when a damaged
    or foreign manifest does not say it."""

    recipients: tuple[str, ...]
    size: int | None
    sha256: str
    scheme: str = "age"
    object_name: str | None = None  # on a remote manifest: the encrypted object

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "scheme": self.scheme,
            "recipients": list(self.recipients),
            "size": self.size,
            "sha256": self.sha256,
        }
        if self.object_name is not None:
            data["object"] = self.object_name
        return data

    @classmethod
    def from_json(cls, value: object) -> Sealed | None:
        """The record as a manifest holds it (None: there is none, so not encrypted)."""
        if not isinstance(value, dict):
            return None
        listed = value.get("recipients")
        size = value.get("size")
        obj = value.get("object")
        return cls(
            recipients=tuple(str(r) for r in listed) if isinstance(listed, list) else (),
            size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            sha256=str(value.get("sha256") or ""),
            scheme=str(value.get("scheme") or "age"),
            object_name=obj if isinstance(obj, str) else None,
        )


@dataclass(frozen=True)
class Manifest:
    id: str
    source: str
    created_at: datetime
    artifact: str
    size: int
    sha256: str
    db_size: int
    page_size: int
    page_count: int
    check_mode: str
    check_result: str
    sqlite_version: str
    reason: str
    protected: bool
    source_path: str
    journal_mode: str
    compression: str
    lifeboat_version: str
    duration_s: float
    format: int = FORMAT_VERSION
    kind: str = "full"  # full | diff | raw
    base: str | None = None  # a differential's full base
    db_sha256: str | None = None  # SHA-256 of the whole database (set for differentials)
    pages_sha256: str | None = None  # of the page-hash list kept beside a full base
    tables: dict[str, int] | None = None  # row counts per table at snapshot time
    schema_sha256: str | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        return snapshot_stem(self.source, self.created_at, self.id)

    @property
    def manifest_name(self) -> str:
        return self.stem + MANIFEST_SUFFIX

    @property
    def local_encryption(self) -> Sealed | None:
        """How the artifact kept on this machine is encrypted (None: it is not)."""
        return Sealed.from_json(self.extra.get(LOCAL_ENCRYPTION))

    @property
    def remote_encryption(self) -> Sealed | None:
        """On a remote manifest: how the object on the remote is encrypted."""
        return Sealed.from_json(self.extra.get(REMOTE_ENCRYPTION))

    @property
    def local_recipients(self) -> list[str]:
        """The age recipients the artifact kept here is encrypted to (none: plain)."""
        sealed = self.local_encryption
        return list(sealed.recipients) if sealed else []

    @property
    def stored_name(self) -> str:
        """The file name of the artifact as kept on this machine."""
        return self.artifact + AGE_SUFFIX if self.local_encryption else self.artifact

    @property
    def stored_size(self) -> int:
        sealed = self.local_encryption
        return sealed.size if sealed and sealed.size is not None else self.size

    def with_protection(self, protected: bool, reason: str | None = None) -> Manifest:
        return replace(self, protected=protected, reason=reason or self.reason)

    def to_dict(self) -> dict[str, object]:
        # Not dataclasses.asdict: its deep copy of every value was most of writing the
        # catalog's rows in a rebuild of 10,000 snapshots; json.dumps only reads them.
        data = {name: getattr(self, name) for name in _FIELD_ORDER}
        data["created_at"] = iso_utc(self.created_at)
        extra = data.pop("extra")
        data.update(extra)
        return data

    def to_json(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Manifest:
        if not isinstance(data, dict):
            raise ManifestError("manifest is not a JSON object")
        fmt = data.get("format")
        if isinstance(fmt, int) and not isinstance(fmt, bool) and fmt > FORMAT_VERSION:
            raise NewerManifest(fmt)
        if fmt not in (1, 2, 3):
            raise ManifestError(f"unknown manifest format {fmt!r}")
        known = _known_fields()
        others = data.keys() - known
        values = {k: v for k, v in data.items() if k not in others} if others else dict(data)
        missing = _required_fields() - values.keys()
        if missing:
            raise ManifestError(f"manifest lacks {', '.join(sorted(missing))}")
        try:
            values["created_at"] = parse_iso_utc(str(values["created_at"]))
        except ValueError as exc:
            raise ManifestError(f"bad created_at: {exc}") from None
        if not SNAPSHOT_ID_RE.match(str(values["id"])):
            raise ManifestError(f"bad snapshot id {values['id']!r}")
        if not SOURCE_NAME_RE.match(str(values["source"])):
            raise ManifestError(f"bad source name {values['source']!r}")
        if not is_plain_name(str(values["artifact"])):
            raise ManifestError(f"bad artifact name {values['artifact']!r}")
        for name in ("size", "db_size", "page_size", "page_count"):
            count = values[name]
            if not isinstance(count, int) or count < 0:
                raise ManifestError(f"bad {name} {count!r}")
        values["protected"] = bool(values["protected"])
        if values.get("kind", "full") not in ("full", "diff", "raw"):
            raise ManifestError(f"unknown snapshot kind {values['kind']!r}")
        if values.get("kind") == "diff" and not SNAPSHOT_ID_RE.match(str(values.get("base"))):
            raise ManifestError("a differential without a valid base id")
        # (most manifests hold no other keys: then there is nothing to look through)
        values["extra"] = {k: v for k, v in data.items() if k in others} if others else {}
        # The fields not checked above keep whatever JSON value the file holds: typing
        # each would turn away manifests that load today (a behaviour change).
        manifest = _made(cls, values)
        expected = manifest.stem + ARTIFACT_SUFFIXES[manifest.kind]
        if manifest.artifact != expected:
            # A manifest names only its own file: one that names another snapshot's
            # (edited or damaged) must never steer a deletion or a restore to it.
            raise ManifestError(f"its artifact {manifest.artifact!r} is not its own ({expected!r})")
        return manifest


#: Manifest's fields, in order.
_FIELD_ORDER = tuple(f.name for f in fields(Manifest))
#: Its fields' plain defaults (`extra`'s is a new dict each time, set by _made).
_DEFAULTS = {f.name: f.default for f in fields(Manifest) if f.default is not MISSING}
assert not hasattr(Manifest, "__post_init__"), "_made would skip it"
#: The manifest fields a file may leave out (older formats, kinds without them).
_OPTIONAL_FIELDS = frozenset(
    ("format", "kind", "base", "db_sha256", "pages_sha256", "tables", "schema_sha256")
)


@functools.cache
def _required_fields() -> frozenset[str]:
    return _known_fields() - _OPTIONAL_FIELDS


def _made(cls: type[Manifest], values: dict[str, Any]) -> Manifest:
    """A Manifest of `values` (every field it has no default for, and no other): its
    defaults, then `values`, set as dataclass's __init__ would set them (Manifest has no
    __post_init__). The generated __init__ of 27 frozen fields was a fifth of parsing
    a manifest, and History parses 10,000."""
    manifest = object.__new__(cls)
    manifest.__dict__.update(_DEFAULTS, extra={})
    manifest.__dict__.update(values)
    return manifest


@functools.cache
def _known_fields() -> frozenset[str]:
    """Manifest's own fields (what is not one goes to `extra`). Worked out once: a
    catalog of 10,000 snapshots reads that many manifests for `lifeboat snapshots`."""
    return frozenset(f.name for f in fields(Manifest)) - {"extra"}


def new_snapshot_id() -> str:
    return secrets.token_hex(4)


def snapshot_stem(source: str, created_at: datetime, snap_id: str) -> str:
    u = created_at.astimezone(UTC)
    if u.year < 1000:  # strftime's %Y does not pad these (on Linux): keep its text
        return f"{source}-{u.strftime(TIMESTAMP_FORMAT)}-{snap_id}"
    # The same text as strftime(TIMESTAMP_FORMAT) at half the cost: each manifest read
    # checks its artifact's name against it, 10,000 of them for History.
    stamp = f"{u.year}{u.month:02d}{u.day:02d}T{u.hour:02d}{u.minute:02d}{u.second:02d}Z"
    return f"{source}-{stamp}-{snap_id}"


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds: sorts as text in time order."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso_utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment.astimezone(UTC)


def utc_now() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def is_plain_name(name: str) -> bool:
    """A file name of ours: no separators, no parent references, no control characters."""
    return (
        bool(name)
        and name not in (".", "..")
        and "/" not in name
        and "\\" not in name
        and _CONTROL_CHARACTER.search(name) is None
    )


#: What is_plain_name refuses besides separators: a regular expression, not a loop over
#: the characters, which was a third of reading a manifest (10,000 of them for a list).
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


def read_manifest(path: Path | str) -> Manifest:
    try:
        with open(path, "rb") as file:  # a text path stays text (see core/scan.scan_folder)
            data = json.loads(file.read())
    except (OSError, ValueError) as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc}") from None
    return Manifest.from_dict(data)


def write_manifest(folder: Path, manifest: Manifest, run: Run) -> Path:
    """Write (or replace) the manifest beside its artifact, atomically, through a work
    file of `run`."""
    path = folder / manifest.manifest_name
    atomic_write_bytes(path, manifest.to_json(), run)
    return path


def recorded_unchecked(extra: Mapping[str, object]) -> list[str]:
    """What a manifest (its `extra`) says its check could not check."""
    value = extra.get(UNCHECKED_KEY)
    return [str(item) for item in value] if isinstance(value, list) else []
