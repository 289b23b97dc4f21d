"""The one place the functions read the time.

The domain takes time as a parameter; handlers ask this module. The local stack swaps
``now`` for its simulated clock in its own worker process.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
