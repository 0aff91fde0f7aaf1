"""The walk of a b-tree from page images (core/history/tables.tree_pages) against the walk
it replaced, level by level with a deduplicated copy of each level: the same pages, in
the same order, on trees with pages listed twice, children out of range, a child that is
an interior page met before, and leaves listed but not read."""

from __future__ import annotations

import random
import struct
from collections.abc import Iterable

import pytest

from lifeboat.core.history.btree import INTERIOR, kind
from lifeboat.core.history.tables import tree_pages

SIZE = 512


def interior(kids: list[int]) -> bytes:
    """A table interior page whose children are `kids` (the last one: the right child)."""
    cells = [struct.pack(">IB", kid, 1) for kid in kids[:-1]]
    image = bytearray(SIZE)
    image[0] = 0x05
    struct.pack_into(">HHHBI", image, 1, 0, len(cells), 0, 0, kids[-1])
    at = SIZE
    for number, cell in enumerate(cells):
        at -= len(cell)
        image[at : at + len(cell)] = cell
        struct.pack_into(">H", image, 12 + 2 * number, at)
    return bytes(image)


class Images:
    def __init__(self, images: dict[int, bytes], count: int) -> None:
        self.images, self.page_count = images, count

    def pages(self, wanted: Iterable[int], *, interior: bool = False) -> dict[int, bytes]:
        return {n: self.images.get(n, bytes([0x0D]) + bytes(SIZE - 1)) for n in sorted(set(wanted))}


def reference(state: Images, root: int, leaves: bool) -> dict[int, bytes]:
    """The walk as it was: each level deduplicated and filtered first."""
    from lifeboat.core.history.btree import children

    found: dict[int, bytes] = {}
    level = [root]
    for _ in range(40):
        level = [n for n in dict.fromkeys(level) if n not in found and 0 < n <= state.page_count]
        if not level:
            break
        if not leaves and level[0] != root:
            first = state.pages([level[0]], interior=True).get(level[0])
            if first is None or kind(first, level[0]) not in INTERIOR:
                found.update((n, b"") for n in level)
                break
        images = state.pages(level, interior=not leaves and level[0] != root)
        found.update(images)
        level = [c for n, image in images.items() for c in children(image, n)]
    return found


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("leaves", [True, False])
def test_the_walk_lists_what_the_walk_it_replaced_listed(seed: int, leaves: bool):
    rng = random.Random(seed)
    count = 400
    images: dict[int, bytes] = {}
    # a root, a level of interior pages, then leaves; some children repeated, out of
    # range (0, past the end) or pointing back at interior pages
    middle = rng.sample(range(2, 60), rng.randint(1, 8))
    images[1] = interior(middle)
    for page in middle:
        kids = rng.sample(range(60, count + 1), rng.randint(1, 30))
        if rng.random() < 0.5:
            kids += rng.choices(kids, k=3)  # listed twice
        if rng.random() < 0.3:
            kids.insert(rng.randrange(len(kids)), rng.choice((0, count + 5)))
        if rng.random() < 0.3:
            kids.insert(rng.randrange(len(kids)), rng.choice(middle))  # an interior page again
        images[page] = interior(kids)
    state = Images(images, count)
    got = tree_pages(state, 1, leaves=leaves)
    want = reference(state, 1, leaves)
    assert list(got.items()) == list(want.items())
