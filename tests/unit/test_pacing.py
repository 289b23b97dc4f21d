"""The Stripe request pacer (``functions.adapters.pacing``): an environment starts at most
one request per interval, and hands its place over only once its last interval is over, so
N places never start more than N requests in any interval."""

from __future__ import annotations

from itertools import pairwise

from functions.adapters.pacing import RequestPacer


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_requests_of_one_environment_start_at_least_an_interval_apart() -> None:
    time = FakeTime()
    pacer = RequestPacer(1.0, clock=time.clock, sleep=time.sleep)
    starts = []
    for answer_takes in (0.2, 0.05, 1.7, 0.0):
        with pacer.turn():
            starts.append(time.now)
            time.now += answer_takes  # Stripe's answer

    gaps = [later - earlier for earlier, later in pairwise(starts)]
    assert all(gap >= 1.0 for gap in gaps)
    assert starts == [0.0, 1.0, 2.0, 3.7]  # a slow answer is not made slower still


def test_an_invocation_returns_only_once_its_last_requests_interval_is_over() -> None:
    time = FakeTime()
    first = RequestPacer(1.0, clock=time.clock, sleep=time.sleep)
    with first.turn():
        started = time.now
        time.now += 0.3
    first.rest()
    # Whoever takes the place next, in a new environment, starts no sooner
    successor = RequestPacer(1.0, clock=time.clock, sleep=time.sleep)
    with successor.turn():
        assert time.now - started >= 1.0


def test_no_interval_paces_nothing() -> None:
    time = FakeTime()
    pacer = RequestPacer(0.0, clock=time.clock, sleep=time.sleep)
    for _ in range(3):
        with pacer.turn():
            pass
    pacer.rest()
    assert time.slept == []
