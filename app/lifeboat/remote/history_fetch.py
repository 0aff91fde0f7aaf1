"""Reading a source's continuous history from its remote (a new machine, or a history
folder lost here): the segments a point needs, downloaded into a folder of this run's
scratch space and, when sealed, decrypted there (removed afterwards whatever happens,
and by the next sweep if the process is killed).

The remote's segment manifests (`<prefix>/<source>/history/*.json`) say which segments
there are; per chain, only those on its path from its first commit to the moment asked
for are fetched (chain_path). Every object must hash to what its manifest says (the sealed
bytes, then the segment inside), and every segment is then read and checked by the
engine like one written here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lifeboat.core.config_model import SourceConfig
from lifeboat.core.encryption import decrypt_file, stored_identities
from lifeboat.core.hashing import sha256_file
from lifeboat.core.history.chain import SEGMENT_NAME_RE, SegmentFile, chain_of, list_segments
from lifeboat.core.manifest import AGE_SUFFIX, REMOTE_ENCRYPTION, Sealed
from lifeboat.core.private import make_new_dir
from lifeboat.core.stores import RemoteStore
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import CorruptSnapshot
from lifeboat.foundation.progress import CancelToken, Progress
from lifeboat.remote.history_plans import history_key, history_prefix

log = logging.getLogger(__name__)

Chains = dict[str, list[SegmentFile]]


def remote_segments(store: RemoteStore, prefix: str, source: str) -> list[dict[str, object]]:
    """The segment manifests of `source` on the remote (unreadable ones skipped)."""
    found = []
    folder = history_prefix(prefix, source)
    # Listed from the remote's own prefix, as remote/scan.py does (some S3 servers,
    # moto among them, refuse a listing whose prefix holds a '/'): a restore is rare.
    for info in store.list_objects(prefix):
        name = info.key.removeprefix(folder)
        if not info.key.startswith(folder) or "/" in name or not name.endswith(".json"):
            continue
        try:
            data = json.loads(store.get_bytes(info.key))
        except ValueError:
            log.warning("history manifest %s on the remote is unreadable; skipped", info.key)
            continue
        artifact = str(data.get("artifact", "")) if isinstance(data, dict) else ""
        match = SEGMENT_NAME_RE.match(artifact)
        if match is None or match.group("source") != source or data.get("kind") != "segment":
            continue
        found.append(data)
    return found


@dataclass(frozen=True)
class Listed:
    """A segment as its manifest on the remote describes it."""

    data: dict[str, object]
    base: str
    level: int
    first: int
    last: int
    previous: str  # hex: the state digest it starts from
    end: str  # hex: the state digest after its last commit
    first_at: datetime

    @classmethod
    def of(cls, data: dict[str, object]) -> Listed:
        return cls(
            data,
            str(data["base"]),
            int(str(data["level"])),
            int(str(data["first_commit_seq"])),
            int(str(data["last_commit_seq"])),
            str(data["previous_end_digest"]),
            str(data["end_state_digest"]),
            datetime.fromisoformat(str(data["first_commit_at"]).replace("Z", "+00:00")),
        )


def chain_path(segments: list[Listed], at: datetime) -> list[Listed]:
    """Of one chain's segments on the remote (several may hold the same commits: ones a
    wider segment replaces stay until it is proven, and a copy sent again after a
    catalog rebuild may split them otherwise), the ones that follow each other from
    its first commit (each starting at the state the one before ended at) as far as
    possible, using only segments that begin at or before `at`."""
    usable = sorted(
        (s for s in segments if s.first_at <= at), key=lambda s: (s.first, s.level, -s.last)
    )
    before: dict[int, Listed | None] = {}  # a reachable segment -> the one before it
    ending: dict[tuple[int, str], Listed] = {}  # (last commit, end digest) -> reachable
    for segment in usable:
        if segment.first == 1:
            before[id(segment)] = None
        elif (prior := ending.get((segment.first - 1, segment.previous))) is not None:
            before[id(segment)] = prior
        else:
            continue
        ending.setdefault((segment.last, segment.end), segment)
    reached = [s for s in usable if id(s) in before]
    if not reached:
        return []
    tip: Listed | None = max(reached, key=lambda s: (s.last, -s.level))
    path = []
    while tip is not None:
        path.append(tip)
        tip = before[id(tip)]
    return path[::-1]


def needed(
    manifests: list[dict[str, object]], at: datetime, bases: set[str] | None = None
) -> list[dict[str, object]]:
    """The manifests of the segments to fetch: per chain (of `bases` only, if given),
    the path from its first commit that reaches furthest, of segments beginning at or
    before `at`."""
    chains: dict[str, list[Listed]] = {}
    for data in manifests:
        try:
            listed = Listed.of(data)
        except (KeyError, ValueError):
            log.warning("history manifest %s on the remote is incomplete; skipped", data)
            continue
        if bases is None or listed.base in bases:
            chains.setdefault(listed.base, []).append(listed)
    return [s.data for segments in chains.values() for s in chain_path(segments, at)]


def same_ranges(manifests: list[dict[str, object]]) -> int:
    """How many segments on the remote hold exactly what another one there holds (the
    same chain, commits, level and end state): two uploaders of an older Lifeboat sent
    them at once. chain_path uses one of each; the uploader removes the other."""
    seen: set[tuple[str, int, int, int, str]] = set()
    twice = 0
    for data in manifests:
        try:
            listed = Listed.of(data)
        except (KeyError, ValueError):
            continue
        key = (listed.base, listed.first, listed.last, listed.level, listed.end)
        twice += key in seen
        seen.add(key)
    return twice


_SAID_TWICE: set[tuple[str, str]] = set()  # (remote, source) said once per process


def _say_same_ranges(remote: str, source: str, manifests: list[dict[str, object]]) -> None:
    twice = same_ranges(manifests)
    if twice and (remote, source) not in _SAID_TWICE:
        _SAID_TWICE.add((remote, source))
        log.warning(
            "remote %s holds %d history segment(s) of %s twice (sent twice by an older "
            "Lifeboat): one copy of each is read; the next upload removes the others",
            remote,
            twice,
            source,
        )


@contextlib.contextmanager
def remote_chains(
    workspace: Workspace,
    src: SourceConfig,
    at: datetime,
    progress: Progress,
    cancel: CancelToken,
    *,
    bases: set[str] | None = None,
) -> Iterator[Chains]:
    """The chains of `src`'s history on its remote (of `bases` only, if given), up to
    `at`: base snapshot id -> the segments a reader uses, read from a scratch folder
    that is removed afterwards."""
    assert src.remote is not None
    remote = workspace.config().remote(src.remote)
    folder = workspace.run.work_path(workspace.scratch(), "history")
    make_new_dir(folder)
    try:
        store = workspace.stores.open(remote)
        try:
            manifests = remote_segments(store, remote.prefix, src.name)
            _say_same_ranges(remote.name, src.name, manifests)
            for data in needed(manifests, at, bases):
                cancel.check()
                _fetch(workspace, store, remote.prefix, src.name, data, folder, progress, cancel)
        finally:
            store.close()
        listing = list_segments(folder, src.name)
        if listing.damaged:
            path, why = listing.damaged[0]
            raise CorruptSnapshot(
                f"history segment {path.name} from remote {remote.name} is damaged: {why}",
                "restore a snapshot instead",
            )
        bases = {s.base_id for s in listing.segments}
        yield {base: chain_of(listing.segments, base) for base in bases}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _fetch(
    workspace: Workspace,
    store: RemoteStore,
    prefix: str,
    source: str,
    data: dict[str, object],
    folder: Path,
    progress: Progress,
    cancel: CancelToken,
) -> None:
    """Download one segment into `folder` (decrypted there if sealed), checked against
    its manifest."""
    name = str(data["artifact"])
    sealed = Sealed.from_json(data.get(REMOTE_ENCRYPTION))
    target = folder / name
    if sealed is None:
        store.get_file(history_key(prefix, source, name), target, progress=progress, cancel=cancel)
    else:
        download = folder / (name + AGE_SUFFIX)
        key = history_key(prefix, source, name + AGE_SUFFIX)
        store.get_file(key, download, progress=progress, cancel=cancel)
        try:
            _expect(download, sealed.sha256, name)
            decrypt_file(
                download,
                target,
                stored_identities(workspace.secrets),
                f"history segment {name} on the remote",
                list(sealed.recipients),
            )
        finally:
            download.unlink(missing_ok=True)
    _expect(target, str(data["sha256"]), name)


def _expect(path: Path, sha256: str | None, name: str) -> None:
    if sha256 is None or sha256_file(path) != sha256:
        raise CorruptSnapshot(
            f"history segment {name} from the remote does not match its manifest",
            "restore a snapshot instead, or an earlier time",
        )
