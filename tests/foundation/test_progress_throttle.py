"""The one progress throttle the terminal bar, the tray's tasks and its event bridge share."""

from __future__ import annotations

from lifeboat.foundation.progress import ProgressThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_first_then_one_per_interval_and_always_the_last():
    clock = Clock()
    throttle = ProgressThrottle(0.1, clock)
    assert throttle.passes("copy", 0, 10)
    clock.now += 0.05
    assert not throttle.passes("copy", 3, 10)
    assert throttle.passes("copy", 10, 10), "the last report always passes"
    clock.now += 0.2
    assert throttle.passes("copy", 4, 10)


def test_each_key_is_throttled_on_its_own_and_can_be_forgotten():
    clock = Clock()
    throttle = ProgressThrottle(0.1, clock)
    assert throttle.passes(1, 0, 10) and throttle.passes(2, 0, 10)
    assert not throttle.passes(1, 1, 10)
    throttle.forget(1)
    assert throttle.passes(1, 2, 10), "a forgotten key starts again"
