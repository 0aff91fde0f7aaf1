"""PageBits (core/page_bits.py), the preview's sets of pages as bitmaps, against Python
sets of the same pages: membership, set operations and runs of consecutive pages."""

from __future__ import annotations

import random

import pytest

from lifeboat.core.page_bits import PageBits


def _bits(pages: set[int], limit: int) -> PageBits:
    made = PageBits(limit)
    for page in pages:
        made.add(page)
    return made


def _runs_of(pages: set[int], longest: int) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for page in sorted(pages):
        first, count = found[-1] if found else (0, 0)
        if found and page == first + count and count < longest:
            found[-1] = (first, count + 1)
        else:
            found.append((page, 1))
    return found


SHAPES = {
    "none": set(),
    "one": {1},
    "the last": {1000},
    "a full byte and its neighbours": set(range(7, 26)),
    "every other": set(range(1, 1001, 2)),
    "all": set(range(1, 1001)),
    "a long run then scattered": set(range(100, 900)) | {905, 907, 999},
}


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("longest", [1, 3, 8, 256])
def test_runs_and_members_are_the_sets(shape: str, longest: int):
    pages = SHAPES[shape]
    bits = _bits(pages, 1000)
    assert list(bits.runs(longest)) == _runs_of(pages, longest)
    assert list(bits) == sorted(pages)
    assert len(bits) == len(pages)
    assert bool(bits) == bool(pages)
    assert all((p in bits) == (p in pages) for p in range(0, 1002))


def test_set_operations_match_python_sets():
    rng = random.Random(7)
    for _ in range(50):
        limit_a, limit_b = rng.randrange(1, 3000), rng.randrange(1, 3000)
        a = {rng.randrange(1, limit_a + 1) for _ in range(rng.randrange(0, 400))}
        b = {rng.randrange(1, limit_b + 1) for _ in range(rng.randrange(0, 400))}
        bits_a, bits_b = _bits(a, limit_a), _bits(b, limit_b)
        assert list(bits_a.union(bits_b)) == sorted(a | b)
        assert list(bits_a.minus(bits_b)) == sorted(a - b)


def test_span_merge_and_clear():
    limit = 500
    assert list(PageBits.span(3, 70, limit)) == list(range(3, 71))
    assert not PageBits.span(9, 8, limit)
    holes, table = PageBits(limit), _bits({40, 41, 47, 300}, limit)
    holes.add(2)
    holes.merge(table, 40, 300)
    assert list(holes) == [2, 40, 41, 47, 300]
    table.clear(40, 300)
    assert not table
