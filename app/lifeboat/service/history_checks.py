"""`lifeboat verify` for continuous history: every segment's checksums, and each chain
proven continuous from its base to its last commit.

Damage is said only when proven: a segment whose frame checksums, index digest or seek
table do not hold, a segment that does not start at the state the one before it ended
at, or a chain that does not rebuild to the digests its segments recorded. A file that
cannot be read now (permissions, a disk gone) or a base snapshot not kept here leaves
the chain "not checked", never "damaged".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lifeboat.core.encryption import MissingIdentity
from lifeboat.core.history.bases import base_state
from lifeboat.core.history.chain import SegmentFile, described_sealed
from lifeboat.core.history.resume import ChainBroken, replay
from lifeboat.core.history.sealing import is_sealed
from lifeboat.core.history.segment import commit_marks
from lifeboat.core.history.segment_read import SegmentDamaged, SegmentReader
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import CorruptSnapshot, LifeboatError
from lifeboat.service.history import HistoryChain, chains_of, history_folder, history_listing


@dataclass(frozen=True)
class ChainCheck:
    source: str
    base_id: str
    segments: int
    commits: int
    status: str  # ok | damaged | unchecked
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "damaged"

    def to_json(self) -> dict[str, object]:
        return {
            "chain": self.base_id,
            "source": self.source,
            "ok": self.ok,
            "status": self.status,
            "problem": self.problem,
            "segments": self.segments,
            "commits": self.commits,
        }


def verify_chains(workspace: Workspace, source: str) -> list[ChainCheck]:
    """Each chain of `source`, and each segment file that does not even open (it belongs
    to no chain it can name: reported on its own)."""
    checks = [_check(workspace, source, chain) for chain in chains_of(workspace, source)]
    src = workspace.config().source(source)
    listing, _ = history_listing(history_folder(workspace, src, make=False), source)
    for path, _why in listing.damaged:
        checks.append(_unopened(source, path))
    return checks


def _unopened(source: str, path: Path) -> ChainCheck:
    """A segment file that failed to open: damaged if its own checks prove it, else
    unchecked (it could not be read now)."""
    try:
        with SegmentReader(path) as reader:
            reader.verify()
    except SegmentDamaged as exc:
        return ChainCheck(source, "?", 1, 0, "damaged", f"{path.name}: {exc}")
    except OSError as exc:
        return ChainCheck(source, "?", 1, 0, "unchecked", f"{path.name}: {_why(exc)}")
    return ChainCheck(source, "?", 1, 0, "unchecked", f"{path.name} changed while checked")


def _check(workspace: Workspace, source: str, chain: HistoryChain) -> ChainCheck:
    def result(status: str, problem: str | None = None) -> ChainCheck:
        return ChainCheck(
            source, chain.base_id, len(chain.segments), chain.commits, status, problem
        )

    for segment in chain.segments:
        try:
            with SegmentReader(segment.path) as reader:
                reader.verify()
                if not _manifest_matches(segment, reader):
                    return result("damaged", f"{segment.path.name}: its manifest misdescribes it")
        except SegmentDamaged as exc:
            return result("damaged", f"{segment.path.name}: {exc}")
        except MissingIdentity as exc:
            return result("unchecked", f"{segment.path.name} is sealed: {exc.message}")
        except OSError as exc:
            return result("unchecked", f"{segment.path.name} cannot be read: {exc.strerror}")
    if chain.base is None:
        return result(
            "unchecked",
            f"its base snapshot {chain.base_id} is not kept here: its segments are intact, "
            "their continuity cannot be proven",
        )
    run = workspace.run
    scratch = workspace.scratch()
    try:
        state = base_state(chain.base, run, scratch)
    except CorruptSnapshot as exc:
        return result("damaged", f"its base snapshot {chain.base_id}: {exc.message}")
    except (LifeboatError, OSError) as exc:
        return result("unchecked", f"its base {chain.base_id} cannot be read: {_why(exc)}")
    try:
        replay(chain.base, chain.segments, state)
    except ChainBroken as exc:
        return result("damaged", str(exc))
    except SegmentDamaged as exc:
        return result("damaged", str(exc))
    except OSError as exc:
        return result("unchecked", f"a segment cannot be read: {_why(exc)}")
    return result("ok")


def _manifest_matches(segment: SegmentFile, reader: SegmentReader) -> bool:
    """A sealed segment is listed from its manifest (sealed_manifest.py): what that says
    must be what the segment holds."""
    if not is_sealed(segment.path):
        return True
    index = reader.index
    return (
        segment.base_id,
        segment.first_seq,
        segment.last_seq,
        segment.commits,
        segment.first_time_us,
        segment.last_time_us,
        segment.previous_digest,
        segment.end_digest,
        segment.level,
        segment.segment_seq,
        described_sealed(segment.path),
    ) == (
        reader.header.base_id,
        reader.first_seq,
        reader.last_seq,
        len(index.commits),
        index.commits[0].time_us,
        index.commits[-1].time_us,
        reader.header.previous_digest,
        index.end_digest,
        index.level,
        reader.header.segment_seq,
        (segment, tuple(commit_marks(index.commits))),
    )


def _why(exc: BaseException) -> str:
    if isinstance(exc, LifeboatError):
        return exc.message
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
