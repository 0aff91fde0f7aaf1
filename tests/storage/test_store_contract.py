"""What every remote store must do (core/stores.py's RemoteStore), pinned once and run
against each: the memory store, and the S3 store against the moto server process. A
store a later issue adds (a folder, SFTP) adds one entry to OPENERS and passes all this.

Only the store's own methods are used to look: what one store wrote, another store
opened on the same remote (as the next run would open it) must see.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lifeboat.core.config_model import RemoteConfig
from lifeboat.core.remote_keys import object_key
from lifeboat.core.secrets import S3Credentials, SecretStore
from lifeboat.core.stores import PROOFS, RemoteStore, Stored
from lifeboat.foundation.errors import Cancelled, CorruptSnapshot, OperationFailed, RemoteError
from lifeboat.foundation.progress import CancelToken, no_progress
from lifeboat.storage.factory import StoreFactory
from lifeboat.storage.memory import MemoryStores

MIB = 1024 * 1024
#: the remotes' settings here: uploads of 5 MiB and more go in parts of 5 MiB
SETTINGS = {"multipart_threshold": "5MiB", "part_size": "5MiB"}
SMALL, LARGE = 1 * MIB + 3, 11 * MIB  # one piece; three parts
#: keys as Lifeboat makes them: "<prefix>/<source>/<name>"
KEY = object_key("lb", "notes", "notes-20240501T100000Z-3fa2b1c0.sqlite.zst")
Opener = Callable[..., RemoteStore]


# -- the stores under test --------------------------------------------------------------


def memory_opener(request: pytest.FixtureRequest, plain_keys: bool) -> Opener:
    stores = MemoryStores(["lb-contract"])  # that bucket only
    return lambda **settings: stores.open(
        remote(str(settings.pop("bucket", "lb-contract")), None, **settings)
    )


def s3_opener(request: pytest.FixtureRequest, plain_keys: bool) -> Opener:
    """S3Store as Lifeboat opens it (StoreFactory), credentials given as for a remote
    being tested. Keys with characters moto's signature check decodes unlike AWS go to a
    moto server that checks no signatures (see tests/helpers/s3server.py)."""
    server = request.getfixturevalue("s3_server" if plain_keys else "unsigned_s3_server")
    bucket = request.getfixturevalue("bucket")
    if not plain_keys:
        server.client().create_bucket(Bucket=bucket)
    factory = StoreFactory(SecretStore())  # never asked: the credentials are given
    creds = S3Credentials(server.access_key_id, server.secret_access_key)
    return lambda **settings: factory.open(
        remote(str(settings.pop("bucket", bucket)), server.endpoint, **settings),
        credentials=creds,
    )


OPENERS: dict[str, Callable[[pytest.FixtureRequest, bool], Opener]] = {
    "memory": memory_opener,
    "s3": s3_opener,
}


def remote(bucket: str, endpoint: str | None, **settings: object) -> RemoteConfig:
    return RemoteConfig(
        name="offsite",
        provider="minio",
        bucket=bucket,
        endpoint=endpoint,
        prefix="lb",
        **{**SETTINGS, **settings},  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def unsigned_s3_server():
    from tests.helpers.s3server import start_s3_server

    server = start_s3_server(authenticate=False)
    yield server
    server.stop()


@pytest.fixture(params=sorted(OPENERS))
def new_store(request: pytest.FixtureRequest) -> Iterator[Callable[..., RemoteStore]]:
    """new_store(**settings): a new store of the kind under test on this test's bucket
    (`plain_keys=False`: for keys with unusual characters)."""
    made: list[RemoteStore] = []
    openers: dict[bool, Opener] = {}

    def open_one(*, plain_keys: bool = True, **settings: object) -> RemoteStore:
        if plain_keys not in openers:
            openers[plain_keys] = OPENERS[request.param](request, plain_keys)
        made.append(openers[plain_keys](**settings))
        return made[-1]

    yield open_one
    for store in made:
        store.close()


@pytest.fixture
def store(new_store) -> RemoteStore:
    return new_store()


# -- helpers ----------------------------------------------------------------------------


class Ledger:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.ids: list[str] = []

    def opening(self, key: str) -> str:
        self.events.append(("opening", key))
        return f"mark-{len(self.events)}"

    def opened(self, key: str, upload_id: str, mark: str) -> None:
        self.events.append(("opened", upload_id))
        self.ids.append(upload_id)

    def closed(self, upload_id: str) -> None:
        self.events.append(("closed", upload_id))

    def left_open(self) -> set[str]:
        opened = {i for e, i in self.events if e == "opened"}
        return opened - {i for e, i in self.events if e == "closed"}


class Trickle:
    """A stream of unknown length that hands out at most `step` bytes per read."""

    def __init__(self, data: bytes, step: int = 70_001) -> None:
        self.data, self.pos, self.step = data, 0, step

    def read(self, size: int = -1) -> bytes:
        size = self.step if size < 0 else min(size, self.step)
        chunk = self.data[self.pos : self.pos + size]
        self.pos += len(chunk)
        return chunk


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def a_file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / f"artifact-{len(data)}-{sha(data)[:8]}"
    path.write_bytes(data)
    return path


def put(
    store: RemoteStore, how: str, key: str, data: bytes, tmp_path: Path, **kw: object
) -> Stored:
    """Upload `data` the way `how` says: from a file, a stream, or bytes."""
    metadata = kw.pop("metadata", {})
    if how == "bytes":
        assert not kw
        return store.put_bytes(key, data, metadata=metadata)  # type: ignore[arg-type]
    kw.setdefault("progress", no_progress)
    kw.setdefault("cancel", CancelToken())
    if how == "file":
        return store.put_file(key, a_file(tmp_path, data), metadata=metadata, **kw)  # type: ignore[arg-type]
    return store.put_stream(key, Trickle(data), size_hint=len(data), metadata=metadata, **kw)  # type: ignore[arg-type]


def assert_holds(store: RemoteStore, key: str, data: bytes, stored: Stored) -> None:
    """The store holds exactly `data` at `key`, as `stored` says, proven in a known way."""
    assert (stored.key, stored.size, stored.sha256) == (key, len(data), sha(data))
    assert stored.proof in PROOFS
    info = store.head(key)
    assert info is not None and (info.size, info.etag) == (len(data), stored.etag)
    assert store.read_back(key, progress=no_progress, cancel=CancelToken()) == (
        len(data),
        sha(data),
    )


def nothing_at(store: RemoteStore, key: str) -> bool:
    return store.head(key) is None and store.open_uploads(key) == []


# -- the contract -----------------------------------------------------------------------


def test_put_head_get_list_delete(new_store, tmp_path: Path):
    store = new_store()
    data = os.urandom(3000)
    meta = {"lifeboat-sha256": sha(data), "lifeboat-snapshot": "notes-20240501T100000Z-3f"}
    stored = store.put_bytes(KEY, data, metadata=meta)
    again = new_store()  # what one store wrote, the next one opened sees
    assert_holds(again, KEY, data, stored)
    info = again.head(KEY)
    assert info is not None and info.metadata == meta
    assert again.get_bytes(KEY) == data
    dest = tmp_path / "down"
    again.get_file(KEY, dest, progress=no_progress, cancel=CancelToken())
    assert dest.read_bytes() == data and stat.S_IMODE(dest.stat().st_mode) == 0o600
    listed = list(again.list_objects("lb"))
    assert [(o.key, o.size, o.etag) for o in listed] == [(KEY, len(data), stored.etag)]
    again.delete(KEY)
    assert store.head(KEY) is None and list(store.list_objects("lb")) == []
    store.delete(KEY)  # not there: deleted all the same


def test_a_download_never_overwrites_and_never_follows_a_link(store, tmp_path: Path):
    store.put_bytes(KEY, b"remote bytes", metadata={})
    there = tmp_path / "there"
    there.write_bytes(b"keep me")
    with pytest.raises(OperationFailed, match="already there"):
        store.get_file(KEY, there, progress=no_progress, cancel=CancelToken())
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "victim")
    with pytest.raises(OperationFailed):
        store.get_file(KEY, link, progress=no_progress, cancel=CancelToken())
    assert there.read_bytes() == b"keep me" and not (tmp_path / "victim").exists()


@pytest.mark.parametrize("how", ["file", "stream", "bytes"])
@pytest.mark.parametrize("size", [0, 1, SMALL, LARGE])
def test_every_size_every_way(store, tmp_path: Path, how: str, size: int):
    data = os.urandom(size)
    ledger = Ledger()
    extra = {} if how == "bytes" else {"ledger": ledger}
    stored = put(store, how, KEY, data, tmp_path, **extra)
    assert_holds(store, KEY, data, stored)
    assert store.get_bytes(KEY) == data
    dest = tmp_path / "down"
    store.get_file(KEY, dest, progress=no_progress, cancel=CancelToken())
    assert dest.read_bytes() == data
    assert stored.part_size == (5 * MIB if size == LARGE else 0)
    if how != "bytes" and size == LARGE:
        upload_id = ledger.ids[0]
        assert ledger.events == [("opening", KEY), ("opened", upload_id), ("closed", upload_id)]
    else:
        assert ledger.events == [], "nothing opened that could be left open"
    assert store.open_uploads(KEY) == []


def test_an_overwrite_replaces_bytes_and_metadata(store, tmp_path: Path):
    first = store.put_bytes(KEY, b"a" * 1000, metadata={"lifeboat-snapshot": "one"})
    second = put(store, "file", KEY, b"b" * 1000, tmp_path, metadata={"lifeboat-test": "1"})
    assert_holds(store, KEY, b"b" * 1000, second)
    info = store.head(KEY)
    assert info is not None and info.metadata == {"lifeboat-test": "1"}
    if first.etag:  # a tag that proves content changes with it
        assert second.etag != first.etag
    assert [o.key for o in store.list_objects("lb")] == [KEY]


def test_list_is_by_plain_prefix_in_key_order(new_store):
    store = new_store(plain_keys=False)  # '/' in a listing's prefix
    keys = ["lb/notes/b", "lb/notes/a", "lb/notes-2/c", "lbx/d", "other/e"]
    for key in keys:
        store.put_bytes(key, key.encode(), metadata={})

    def listed(prefix: str) -> list[tuple[str, int]]:
        return [(o.key, o.size) for o in store.list_objects(prefix)]

    assert listed("lb/notes/") == [("lb/notes/a", 10), ("lb/notes/b", 10)]
    assert [k for k, _ in listed("lb/notes")] == ["lb/notes-2/c", "lb/notes/a", "lb/notes/b"]
    assert [k for k, _ in listed("lb")] == ["lb/notes-2/c", "lb/notes/a", "lb/notes/b", "lbx/d"]
    assert [k for k, _ in listed("")] == sorted(keys)
    assert listed("nothing") == []


def test_a_remote_whose_bucket_is_not_there_fails_clearly(new_store, tmp_path: Path):
    store = new_store(bucket="lb-no-such-bucket-here")
    with pytest.raises(RemoteError, match="lb-no-such-bucket-here"):
        store.put_bytes(KEY, b"data", metadata={})
    with pytest.raises(RemoteError, match="lb-no-such-bucket-here"):
        put(store, "file", KEY, os.urandom(LARGE), tmp_path)
    with pytest.raises(RemoteError, match="lb-no-such-bucket-here"):
        list(store.list_objects("lb"))


def test_a_missing_key(store, tmp_path: Path):
    assert store.head(KEY) is None
    for read in (
        lambda: store.get_bytes(KEY),
        lambda: store.read_back(KEY, progress=no_progress, cancel=CancelToken()),
        lambda: store.get_file(KEY, tmp_path / "down", progress=no_progress, cancel=CancelToken()),
    ):
        with pytest.raises(RemoteError) as raised:
            read()
        assert getattr(raised.value, "not_found", False), raised.value
    assert not (tmp_path / "down").exists()
    store.delete(KEY)
    assert store.open_uploads(KEY) == []
    store.abort_upload(KEY, "no-such-upload")  # gone counts as aborted


@pytest.mark.parametrize("hint", [0, 1000, LARGE, 100 * LARGE])
def test_a_stream_of_unknown_length(store, hint: int):
    data = os.urandom(LARGE + 12345)
    stored = store.put_stream(
        KEY,
        Trickle(data),
        size_hint=hint,
        metadata={},
        progress=no_progress,
        cancel=CancelToken(),
    )
    assert_holds(store, KEY, data, stored)


@pytest.mark.parametrize("size", [SMALL, LARGE])
def test_progress_of_uploads_downloads_and_read_backs(store, tmp_path: Path, size: int):
    data = os.urandom(size)
    seen: list[tuple[str, int, int]] = []

    def progress(phase: str, done: int, total: int) -> None:
        seen.append((phase, done, total))

    put(store, "file", KEY, data, tmp_path, progress=progress)
    store.get_file(KEY, tmp_path / "down", progress=progress, cancel=CancelToken())
    store.read_back(KEY, progress=progress, cancel=CancelToken())
    for phase in ("upload", "download", "read back"):
        reports = [(done, total) for p, done, total in seen if p == phase]
        assert len(reports) >= 2, f"{phase}: reported as it goes, not only at the end"
        assert all(total == size and 0 <= done <= size for done, total in reports), phase
        assert max(done for done, _ in reports) == size, phase
    assert {p for p, _, _ in seen} == {"upload", "download", "read back"}


@pytest.mark.parametrize("how", ["file", "stream"])
@pytest.mark.parametrize("size", [SMALL, LARGE])
def test_a_cancelled_upload_leaves_nothing(store, tmp_path: Path, how: str, size: int):
    cancel = CancelToken()
    ledger = Ledger()

    def progress(phase: str, done: int, total: int) -> None:
        cancel.cancel()  # at the first report: well before the end

    with pytest.raises(Cancelled):
        put(store, how, KEY, os.urandom(size), tmp_path, progress=progress, cancel=cancel,
            ledger=ledger)  # fmt: skip
    assert nothing_at(store, KEY) and list(store.list_objects("lb")) == []
    assert ledger.left_open() == set()


@pytest.mark.parametrize("size", [SMALL, LARGE])
def test_a_failed_content_check_writes_nothing(store, tmp_path: Path, size: int):
    ledger = Ledger()
    sent: list[str] = []

    def check(sha256: str) -> None:
        sent.append(sha256)
        raise CorruptSnapshot("damaged on disk")

    data = os.urandom(size)
    with pytest.raises(CorruptSnapshot):
        put(store, "file", KEY, data, tmp_path, ledger=ledger, check=check)
    assert sent == [sha(data)], "checked once, with the SHA-256 of all that was read"
    assert nothing_at(store, KEY) and ledger.left_open() == set()


def test_an_upload_a_killed_run_left_open_is_listed_and_aborted(new_store, tmp_path: Path):
    """A run stops for good once its upload is open (here: it hangs, as a killed run
    would never come back); the next run finds the upload and aborts it."""
    store = new_store()
    opened, release = threading.Event(), threading.Event()

    class StuckLedger(Ledger):
        def opened(self, key: str, upload_id: str, mark: str) -> None:
            super().opened(key, upload_id, mark)
            opened.set()
            release.wait(30)

    ledger, cancel = StuckLedger(), CancelToken()
    failures: list[BaseException] = []

    def killed_run() -> None:
        try:
            put(store, "file", KEY, os.urandom(LARGE), tmp_path, ledger=ledger, cancel=cancel)
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=killed_run)
    thread.start()
    try:
        assert opened.wait(30)
        next_run = new_store()
        assert next_run.open_uploads(KEY) == ledger.ids, "listed by its key"
        assert next_run.open_uploads(KEY + "-other") == [], "only for exactly that key"
        next_run.abort_upload(KEY, ledger.ids[0])
        assert next_run.open_uploads(KEY) == []
        next_run.abort_upload(KEY, ledger.ids[0])  # aborted already: fine
    finally:
        cancel.cancel()  # what is left of the stuck run ends
        release.set()
        thread.join(30)
    assert len(failures) == 1 and isinstance(failures[0], Cancelled)
    assert nothing_at(store, KEY)


@pytest.mark.parametrize(
    "prefix",
    [
        "my backups/2024",
        "Ünïcödé/日本語",
        "a+b=c&d",
        "50% off;really,'quoted' (copy)!*@$:",
        "what?#~[x]{y}^`|",
    ],
)
def test_keys_with_the_characters_a_prefix_may_have(new_store, tmp_path: Path, prefix: str):
    """A user's prefix may hold any printable character but '\\' (core/remote_keys.py);
    the rest of a key is Lifeboat's own names."""
    store = new_store(plain_keys=False)
    key = object_key(prefix, "notes_1-x", "notes_1-x-20240501T100000Z-3fa2b1c0.json")
    data = os.urandom(SMALL)
    stored = store.put_bytes(key, data, metadata={})
    assert_holds(store, key, data, stored)
    large = put(store, "stream", key + ".age", os.urandom(LARGE), tmp_path)
    assert large.part_size and store.open_uploads(key + ".age") == []
    assert store.get_bytes(key) == data
    assert [o.key for o in store.list_objects(prefix)] == [key, key + ".age"]
    assert [o.key for o in store.list_objects(prefix.split("/")[0])] == [key, key + ".age"]
    store.delete(key)
    store.delete(key + ".age")
    assert store.head(key) is None and list(store.list_objects(prefix)) == []
