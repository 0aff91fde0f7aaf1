"""What of the continuous history goes to the remote and what may leave it: the plan's
rules as tables (remote/history_plans.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifeboat.core.catalog_segments import SegmentCopy
from lifeboat.core.history.chain import SegmentFile
from lifeboat.foundation.errors import LifeboatError
from lifeboat.remote.history_plans import (
    covered_copies,
    held,
    held_until_us,
    history_key,
    orphan_candidates,
    orphaned_copies,
    plan_batches,
    sendable,
    snapshot_ids_listed,
)


def seg(first: int, last: int, level: int = 0, base: str = "b1") -> SegmentFile:
    """A segment of commits first..last whose digests chain by commit number."""
    return SegmentFile(
        path=Path(f"/h/{base}-{level}-{first}-{last}.seg.zst"),
        base_id=base,
        level=level,
        segment_seq=first,
        first_seq=first,
        last_seq=last,
        commits=last - first + 1,
        first_time_us=first * 1000,
        last_time_us=last * 1000,
        previous_digest=str(first - 1).encode(),
        end_digest=str(last).encode(),
        size=100,
    )


def copy(first: int, last: int, level: int = 1, base: str = "b1", remote: str = "r") -> SegmentCopy:
    return SegmentCopy(
        remote, "notes", f"{base}-{level}-{first}-{last}", base, level, first, last,
        last * 1000, str(last).encode().hex(), "k", "m", 1, "s", False, "",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("segment", "copies", "expected"),
    [
        (seg(1, 5), [], False),
        (seg(1, 5), [copy(1, 5)], True),  # a batch holds the level-0 segment
        (seg(1, 5, level=1), [copy(1, 3), copy(4, 5)], True),  # batches hold an L1
        (seg(1, 5, level=1), [copy(1, 3), copy(5, 5)], False),  # commit 4 missing
        (seg(1, 5, level=2), [copy(1, 5)], False),  # thinned: a higher level goes up
        (seg(1, 5), [copy(1, 5, base="b2")], False),  # another chain's
        (seg(3, 4), [copy(1, 9, level=2)], True),
    ],
)
def test_held(segment, copies, expected):
    assert held(segment, copies) is expected


def firsts(batches) -> list[list[int]]:
    return [[s.first_seq for s in b.segments] for b in batches]


def test_level0_segments_waiting_together_go_up_as_one_batch():
    segments = [seg(1, 10, level=1), seg(11, 12), seg(13, 15), seg(16, 16)]
    assert firsts(plan_batches(segments, [])) == [[1, 11, 13, 16]]
    assert firsts(plan_batches(segments, [copy(1, 10)])) == [[11, 13, 16]]
    assert plan_batches(segments, [copy(1, 16)]) == []
    # a compacted segment partly sent: its tail and the level-0 segments after it
    (batch,) = plan_batches(segments, [copy(1, 6)])
    assert [s.first_seq for s in batch.segments] == [1, 11, 13, 16] and batch.after == 6
    # a thinned segment goes as it is, alone
    thinned = [seg(1, 10, level=2), seg(11, 12)]
    assert firsts(plan_batches(thinned, [])) == [[1], [11]]


def test_a_level0_segment_that_does_not_follow_starts_a_new_batch():
    apart = [seg(1, 2), seg(4, 5)]  # commit 3 is not here
    assert len(plan_batches(apart, [])) == 2
    other_chain = [seg(1, 2), seg(3, 4, base="b2")]
    assert len(plan_batches(other_chain, [])) == 2


@pytest.mark.parametrize(
    ("segment", "copies", "after", "previous"),
    [
        (seg(1, 30, level=1), [copy(1, 10), copy(11, 20)], 20, "20"),  # only 21-30 goes
        (seg(1, 30, level=1), [copy(1, 10), copy(15, 20)], 10, "10"),  # 11-30 goes
        (seg(1, 30, level=1), [copy(5, 10)], None, ""),  # its first commit is not held
        (seg(1, 30, level=2), [copy(1, 10, level=2)], None, ""),  # thinned: whole
    ],
)
def test_a_compacted_segment_partly_sent_goes_up_by_its_tail(segment, copies, after, previous):
    (batch,) = plan_batches([segment], copies)
    assert batch.segments == [segment] and batch.after == after
    assert batch.previous == previous.encode().hex()


@pytest.mark.parametrize(
    ("copies", "deleted"),
    [
        ([copy(1, 5), copy(6, 9)], []),  # side by side: both stay
        ([copy(1, 5), copy(6, 9), copy(1, 9, level=2)], ["1-5", "6-9"]),
        ([copy(1, 5), copy(1, 9)], ["1-5"]),  # a wider one at the same level
        ([copy(1, 5), copy(1, 9, remote="other")], []),  # proven elsewhere only
        ([copy(1, 5), copy(1, 9, base="b2")], []),  # another chain
        ([copy(2, 9), copy(1, 5, level=2)], []),  # partly covered: stays
    ],
)
def test_a_copy_leaves_the_remote_only_when_another_proven_one_covers_it(copies, deleted):
    assert [f"{c.first_seq}-{c.last_seq}" for c in covered_copies(copies)] == deleted


def test_how_far_the_remote_holds_the_newest_chain():
    segments = [seg(1, 3, base="old"), seg(1, 5, level=1), seg(6, 8), seg(9, 9)]
    assert held_until_us(segments, []) is None
    assert held_until_us(segments, [copy(1, 5)]) == 5000
    assert held_until_us(segments, [copy(1, 5), copy(9, 9)]) == 5000  # 6-8 missing
    assert held_until_us(segments, [copy(1, 9)]) == 9000
    assert held_until_us([], [copy(1, 9)]) is None


def test_history_keys_are_plain_names_under_the_source():
    assert history_key("lb", "notes", "notes-x.seg.zst") == "lb/notes/history/notes-x.seg.zst"
    assert history_key("", "notes", "a.json") == "notes/history/a.json"
    with pytest.raises(LifeboatError):
        history_key("lb", "notes", "../escape")


def test_only_the_newest_chain_and_chains_whose_base_the_remote_holds_are_sent():
    old, live = seg(1, 5, base="old"), seg(1, 3, base="new")
    live = SegmentFile(**{**live.__dict__, "first_time_us": 9000, "last_time_us": 9500})
    assert sendable([old, live], set()) == [live], "old's base was pruned there: not sent"
    assert sendable([old, live], {"old"}) == [old, live]
    assert sendable([], {"old"}) == []


def _newest(copies: list[SegmentCopy]) -> list[SegmentCopy]:
    """The "new" chain's copies made the newest."""
    return [c for c in copies if c.base_id != "new"] + [
        SegmentCopy(**{**c.__dict__, "last_time_us": 10**9}) for c in copies if c.base_id == "new"
    ]


@pytest.mark.parametrize(
    ("copies", "held", "listed", "gone"),
    [
        # the old base is neither held (as the catalog knows) nor listed: pruned there
        ([copy(1, 5, base="old"), copy(1, 2, base="new")], {"new"}, {"new"}, ["old"]),
        ([copy(1, 5, base="old"), copy(1, 2, base="new")], {"old", "new"}, {"old", "new"}, []),
        # THE RULE: a base this catalog does not know (a new machine before `catalog
        # rebuild`, a manifest it cannot read) but the remote still lists is not gone
        ([copy(1, 5, base="old"), copy(1, 2, base="new")], {"new"}, {"old", "new"}, []),
        ([copy(1, 5, base="old"), copy(1, 2, base="new")], set(), {"old"}, []),
        # the newest chain's copies stay even if its base is not (yet) proven there
        ([copy(1, 5, base="old"), copy(1, 2, base="new")], {"old"}, {"old"}, []),
        ([copy(1, 5, base="old")], set(), set(), []),  # the only chain is the newest
    ],
)
def test_a_chain_goes_from_the_remote_once_its_base_was_pruned_there(copies, held, listed, gone):
    copies = _newest(copies)
    candidates = orphan_candidates(copies, held)
    assert [c.base_id for c in orphaned_copies(copies, candidates - listed)] == gone


def test_the_snapshots_a_listing_shows_by_their_ids_whatever_their_manifests_say():
    keys = [
        "lb/notes/notes-20261130T120000Z-0123abcd.sqlite.zst",
        "lb/notes/notes-20261130T120000Z-0123abcd.json",
        "lb/notes/notes-20261130T130000Z-89abcdef.diff.zst.age",
        "lb/notes/history/notes-20261130T140000Z-deadbeef.seg.zst",  # a segment: not one
        "lb/notes/notes.txt",  # not a snapshot's name
    ]
    assert snapshot_ids_listed(keys) == {"0123abcd", "89abcdef"}


def listed(first: int, last: int, level: int = 1, at_s: int = 0, base: str = "b1"):
    from datetime import UTC, datetime

    from lifeboat.remote.history_fetch import Listed

    moment = datetime.fromtimestamp(at_s or first, UTC)
    data = {"artifact": f"{base}-{level}-{first}-{last}"}
    return Listed(data, base, level, first, last, str(first - 1), str(last), moment)


@pytest.mark.parametrize(
    ("segments", "until", "path"),
    [
        ([listed(1, 4), listed(5, 8)], 100, ["1-4", "5-8"]),
        # a thinned one and the ones it replaces (not deleted yet): as far, more commits
        ([listed(1, 4), listed(5, 8), listed(1, 8, level=2)], 100, ["1-4", "5-8"]),
        ([listed(1, 4), listed(1, 8, level=2)], 100, ["1-8"]),  # further
        # overlapping, none covering the other (sent again after a catalog rebuild)
        ([listed(1, 4), listed(3, 8), listed(5, 9), listed(1, 2)], 100, ["1-4", "5-9"]),
        ([listed(1, 4), listed(5, 8), listed(9, 12)], 6, ["1-4", "5-8"]),  # up to `at`
        ([listed(2, 4), listed(5, 8)], 100, []),  # its first commit is not there
        ([listed(1, 4), listed(6, 8)], 100, ["1-4"]),  # a hole: as far as it goes
    ],
)
def test_a_restore_fetches_the_path_of_segments_that_follow_each_other(segments, until, path):
    from datetime import UTC, datetime

    from lifeboat.remote.history_fetch import chain_path

    chosen = chain_path(segments, datetime.fromtimestamp(until, UTC))
    assert [f"{s.first}-{s.last}" for s in chosen] == path


def _named(copy_: SegmentCopy, name: str, **changes: object) -> SegmentCopy:
    return SegmentCopy(**{**copy_.__dict__, "name": name, **changes})


@pytest.mark.parametrize(
    ("copies", "deleted"),
    [
        # the same commits, level and end state sent twice: the later name goes
        ([_named(copy(1, 5), "b"), _named(copy(1, 5), "a")], ["b"]),
        ([_named(copy(1, 5), "a"), _named(copy(1, 5), "b"), _named(copy(1, 5), "c")], ["b", "c"]),
        # not the same: another end state, level, chain or remote: both stay
        ([_named(copy(1, 5), "a"), _named(copy(1, 5), "b", end_digest="ff")], []),
        ([_named(copy(1, 5, level=0), "a"), _named(copy(1, 5), "b")], ["a"]),  # level wins
        ([_named(copy(1, 5), "a"), _named(copy(1, 5, base="b2"), "b")], []),
        ([_named(copy(1, 5), "a"), _named(copy(1, 5, remote="r2"), "b")], []),
    ],
)
def test_a_range_held_twice_keeps_one_copy(copies, deleted):
    assert [c.name for c in covered_copies(copies)] == deleted


def test_deleting_the_covered_copies_never_deletes_the_only_copy_of_a_range():
    """Whatever mix of copies a remote holds (ranges overlapping, nested, held twice,
    at several levels, of two chains and two remotes), every copy that goes is covered by
    one that stays (SegmentCopy.covers, the reader's rule), or held exactly as well by
    one that stays: duplicates and covered copies together never take a range's last
    copy (a covered copy's duplicate goes with it, the copy covering both stays)."""
    import random

    def same(a: SegmentCopy, b: SegmentCopy) -> bool:
        keys = ("remote", "base_id", "first_seq", "last_seq", "level", "end_digest")
        return all(getattr(a, key) == getattr(b, key) for key in keys)

    rng = random.Random(26)
    for _ in range(3000):
        copies: list[SegmentCopy] = []
        for number in range(rng.randint(1, 7)):
            first = rng.randint(1, 8)
            made = copy(
                first,
                first + rng.randint(0, 5),
                level=rng.randint(0, 2),
                base=rng.choice(("b1", "b2")),
                remote=rng.choice(("r", "r", "r2")),
            )
            twin = copies and rng.random() < 0.3
            copies.append(_named(rng.choice(copies) if twin else made, f"n{number}"))
        going = {c.name for c in covered_copies(copies)}
        left = [c for c in copies if c.name not in going]
        for gone in (c for c in copies if c.name in going):
            assert any(
                kept.remote == gone.remote and (kept.covers(gone) or same(kept, gone))
                for kept in left
            ), (gone, copies)
