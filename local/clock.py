"""The simulated clock of the local stack.

Time stands still until it is moved (``POST /_local/clock``), and only forwards, so that a
run is reproducible: every function invoked between two moves reads the same instant.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant; one without an offset is taken as UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


class SimulatedClock:
    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the clock starts at an aware instant")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, instant: datetime) -> None:
        """Move to ``instant``; never backwards."""
        instant = instant.astimezone(UTC)
        with self._lock:
            if instant < self._now:
                raise ValueError(
                    f"the clock only moves forward: {instant.isoformat()} is before "
                    f"{self._now.isoformat()}"
                )
            self._now = instant
