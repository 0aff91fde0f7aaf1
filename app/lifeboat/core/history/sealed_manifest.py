"""What a sealed segment's manifest says in clear, so that a listing never decrypts.

A sealed segment (`<stem>.seg.zst.age`, sealing.py) gets a manifest `<stem>.json` at
every level, 0 included, written right after it. On top of a segment manifest's fields
(chain.segment_manifest: its chain, commit seqs and times, digests, sizes) it carries
the commit times to the microsecond, the gap and merged marks (seq, time, flags, the
time of the commit before it) and the sealed file's own size and SHA-256. These are the
kind of facts a snapshot's manifest holds in clear (times, sizes); no page, row or
digest of content other than the chain's state digests.

The manifest is believed only for the file it names whose size it gives: a segment
whose manifest is missing (a kill between the two writes), unreadable or of another
file is read from the segment itself (decrypted).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from lifeboat.core.history.segment import WrittenSegment

SEALED_KEY = "sealed"
#: (seq, time in µs, flags, time of the commit before it in the segment or None)
Mark = tuple[int, int, int, int | None]


def sealed_fields(written: WrittenSegment, range_first: int) -> dict[str, object]:
    """The fields a sealed segment's manifest adds (none for a plain one); `range_first`
    is the first commit seq of the range it covers (its header's: a thinned segment's
    first commit may be a later one)."""
    if written.sealed is None:
        return {}
    size, sha256 = written.sealed
    return {
        SEALED_KEY: {"format": "age", "size": size, "sha256": sha256},
        "range_first_seq": range_first,
        "first_commit_us": written.first_time_us,
        "last_commit_us": written.last_time_us,
        "marks": [list(mark) for mark in written.marks],
    }


@dataclass(frozen=True)
class SealedFacts:
    """A sealed segment as its manifest describes it."""

    base_id: str
    level: int
    segment_seq: int
    first_seq: int
    last_seq: int
    commits: int
    first_time_us: int
    last_time_us: int
    previous_digest: bytes
    end_digest: bytes
    size: int  # of the plain segment
    sealed_size: int
    sealed_sha256: str
    marks: tuple[Mark, ...]


def manifest_path(path: Path) -> Path:
    name = Path(path).name.removesuffix(".age").removesuffix(".seg.zst")
    return Path(path).with_name(name + ".json")


def read_sealed_facts(path: Path) -> SealedFacts | None:
    """The facts of the sealed segment at `path` from its manifest; None when there is
    no manifest of this very file (missing, unreadable, another file or size)."""
    try:
        data = json.loads(manifest_path(path).read_bytes())
        sealed = data[SEALED_KEY]
        if data.get("kind") != "segment" or data.get("artifact") != Path(path).name:
            return None
        if int(sealed["size"]) != os.stat(path).st_size:
            return None
        return SealedFacts(
            base_id=str(data["base"]),
            level=int(data["level"]),
            segment_seq=int(data["segment_seq"]),
            first_seq=int(data["range_first_seq"]),
            last_seq=int(data["last_commit_seq"]),
            commits=int(data["commit_count"]),
            first_time_us=int(data["first_commit_us"]),
            last_time_us=int(data["last_commit_us"]),
            previous_digest=bytes.fromhex(str(data["previous_end_digest"])),
            end_digest=bytes.fromhex(str(data["end_state_digest"])),
            size=int(data["size"]),
            sealed_size=int(sealed["size"]),
            sealed_sha256=str(sealed["sha256"]),
            marks=tuple(_mark(m) for m in data["marks"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _mark(raw: list[object]) -> Mark:
    seq, time_us, flags, previous = raw
    return (
        int(str(seq)),
        int(str(time_us)),
        int(str(flags)),
        None if previous is None else int(str(previous)),
    )
