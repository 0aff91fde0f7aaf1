"""Moving a source's continuous history with its snapshots (service/snapshot_moves.py
calls these, holding the old history folder for the whole move: folder_lock.py).

Like the snapshots' move (core/snapshot_move.py): each segment and its manifest is
copied into a work file in the new folder, fsynced, read back and compared, then
published by a hard link (the segment before its manifest), never replacing anything;
one already there with the same bytes (a move killed after publishing it) is kept. The
settings switch to the new folder next, and only then are the old files removed, the
way replaced segments go (manifest to tombstone first). A removal decided before the
move (a tombstone) is finished by the caller's sweep first; a segment whose tombstone
could not be finished is not moved. No Qt, no network.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from lifeboat.core.fsutil import fsync_dir
from lifeboat.core.hashing import sha256_file
from lifeboat.core.history.chain import MANIFEST_SUFFIX, SEGMENT_NAME_RE, stem_of
from lifeboat.core.history.compaction import remove_segment_files
from lifeboat.core.history.folder_lock import HISTORY_LOCK, MOVED_MARKER
from lifeboat.core.leftovers import is_being_deleted
from lifeboat.core.private import private_dir
from lifeboat.core.runs import Run
from lifeboat.core.snapshot_move import copy_verified, require_space
from lifeboat.foundation.errors import OperationFailed


@dataclass
class HistoryCopy:
    old: Path
    new: Path
    #: the segments' names, oldest first; each with its manifest when it has one
    segments: list[str] = field(default_factory=list)
    work: dict[str, Path] = field(default_factory=dict)  # name -> this run's copy
    copied_bytes: int = 0


def _names(old: Path, source: str) -> list[str]:
    """The segments to move: not one whose removal was decided (its tombstone is still
    there: the caller's sweep could not finish it). It stays in the old folder, reported,
    rather than come back in the new one without its manifest."""
    names = []
    for name in sorted(os.listdir(old)):
        match = SEGMENT_NAME_RE.match(name)
        if match is None or match.group("source") != source:
            continue
        if not is_being_deleted(old, stem_of(name)):
            names.append(name)
    return names


def _files_of(copy: HistoryCopy, segment: str) -> list[str]:
    manifest = stem_of(segment) + MANIFEST_SUFFIX
    return [segment, manifest] if os.path.lexists(copy.old / manifest) else [segment]


def copy_history(old: Path, new: Path, source: str, run: Run) -> HistoryCopy:
    """Every segment of `source` in `old` (and its manifest) copied to verified work
    files in `new` (made 0700 here, only if there is a segment to move). On a failure this
    run's work files are removed and nothing else has changed."""
    copy = HistoryCopy(old, new, _names(old, source))
    if not copy.segments:
        return copy
    private_dir(new, "history folder")
    try:
        files = [name for segment in copy.segments for name in _files_of(copy, segment)]
        needed = sum((old / n).stat().st_size for n in files if not os.path.lexists(new / n))
        require_space(old, new, needed + (1 << 20))
        for name in files:
            if os.path.lexists(new / name):
                if sha256_file(new / name) != sha256_file(old / name):
                    raise OperationFailed(
                        f"{new} already holds a different {name}; nothing was moved",
                        "choose another folder, or move that file away",
                    )
                continue
            work = run.work_path(new, "move")
            copy.work[name] = work
            copy.copied_bytes += copy_verified(old / name, work, None)[0]
    except BaseException:
        discard_history_work(copy)
        raise
    return copy


def publish_history(copy: HistoryCopy) -> None:
    """Give every work file its final name: a segment before its manifest."""
    if not copy.segments:
        return  # nothing to move: no new folder was made
    for segment in copy.segments:
        for name in _files_of(copy, segment):
            work = copy.work.pop(name, None)
            if work is not None:
                os.link(work, copy.new / name)
                os.unlink(work)
    fsync_dir(copy.new)


def discard_history_work(copy: HistoryCopy) -> None:
    for work in copy.work.values():
        with contextlib.suppress(OSError):
            work.unlink()
    copy.work.clear()


def remove_old_history(copy: HistoryCopy, run: Run) -> list[str]:
    """After the settings name the new folder: mark the old one moved (a follower still
    on it stops), remove the moved segments, then the folder if nothing else is in it:
    first renamed to a work name of this run, so that a follower in another process finds
    no folder at all from then on (never one without its marker), and a kill before it is
    gone leaves what the next sweep removes. Returns what could not be removed."""
    marker = copy.old / MOVED_MARKER
    with contextlib.suppress(FileExistsError):
        os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    problems = []
    for segment in copy.segments:
        try:
            remove_segment_files(copy.old / segment)
        except OSError as exc:
            problems.append(f"{segment}: {exc.strerror or exc}")
    left = set(os.listdir(copy.old)) - {MOVED_MARKER, HISTORY_LOCK}
    if not left:
        gone = run.work_path(copy.old.parent, "history-gone")
        with contextlib.suppress(OSError):
            os.rename(copy.old, gone)
            os.unlink(gone / MOVED_MARKER)
            os.unlink(gone / HISTORY_LOCK)
            os.rmdir(gone)
    else:  # a live run's work file (it goes with that run) or a file not ours
        problems += [
            f"{name}: not a segment that was moved"
            for name in sorted(left)
            if not name.startswith(".lb-")
        ]
    return problems
