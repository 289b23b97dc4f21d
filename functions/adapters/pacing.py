"""Pacing Stripe requests, so that many environments at once stay within a rate.

An event source mapping runs at most N environments of a function at once. If each starts
a Stripe request no sooner than ``interval`` after its previous one, and hands its place
over (returns from its invocation) only once that interval has passed, then every one of
the N places starts at most one request per ``interval``, whichever environment fills it
next: together at most N / ``interval`` requests a second, whatever Stripe's latency
(``infra/weekly_invoice.py`` derives the interval from the concurrency and the Friday's
share of Stripe's limit). The wait happens while the environment does the rest of an
invoice's work, so an environment slower than the interval is not slowed down further.

An invocation that Lambda kills (its timeout) hands its place over without the rest: the
one case in which a place may start two requests within an interval.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class RequestPacer:
    """At most one request every ``interval`` seconds from this process; 0 paces nothing."""

    def __init__(
        self,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if interval < 0:
            raise ValueError("a pacing interval cannot be negative")
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = float("-inf")

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Wait until this process may start its next request, then start it."""
        if self.interval <= 0:
            yield
            return
        with self._lock:
            self._wait()
            self._next = self._clock() + self.interval
        yield

    def rest(self) -> None:
        """Wait until the last request's interval has passed: what an invocation does
        before it returns, so that whoever takes its place starts no request sooner."""
        if self.interval <= 0:
            return
        with self._lock:
            self._wait()

    def _wait(self) -> None:
        wait = self._next - self._clock()
        if wait > 0:
            self._sleep(wait)


@functools.cache
def request_pacer(interval: float) -> RequestPacer:
    """The process's pacer for ``interval``, shared by every adapter built with it."""
    return RequestPacer(interval)
