"""The fixture app's clock, replaced by the local worker with the simulated clock."""

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
