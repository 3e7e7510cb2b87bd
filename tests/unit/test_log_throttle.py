"""Repeated identical errors are logged at a bounded rate, saying how many were held back."""

from shared.logging import Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_first_goes_through_then_one_a_minute_with_the_count_held_back() -> None:
    clock = Clock()
    throttle = Throttle(every=60.0, clock=clock)
    key = ("failed", "delivery.sent.v1", "RuntimeError")
    passed = []
    for i in range(55 * 120 + 1):  # 55 a second for two minutes
        clock.now = i / 55
        if (held := throttle.let_through(key)) is not None:
            passed.append((clock.now, held))
    assert [held for _, held in passed] == [0, 3299, 3299]
    assert [round(at) for at, _ in passed] == [0, 60, 120]


def test_kinds_are_throttled_apart() -> None:
    throttle = Throttle(every=60.0, clock=Clock())
    assert throttle.let_through(("failed", "a", "ValueError")) == 0
    assert throttle.let_through(("failed", "b", "ValueError")) == 0
    assert throttle.let_through(("failed", "a", "ValueError")) is None
