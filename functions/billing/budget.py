"""R7: the monthly budget period.

A budget period starts at local midnight on the signup day of the month, in the account's
timezone, and lasts until the same day of the next month. In a month without that day
(signup on the 29th to 31st) it starts on the month's last day. Periods are computed from
the calendar, never by adding a number of hours, so they stay right across DST changes.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class BudgetPeriod:
    """A half-open interval ``[start, end)`` of UTC instants."""

    start: datetime
    end: datetime

    def __contains__(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def signup_day(signed_up_at: datetime, timezone: str) -> int:
    """The day of the month the contractor signed up, in their own timezone."""
    return _require_aware(signed_up_at).astimezone(ZoneInfo(timezone)).day


def anchor_date(year: int, month: int, day: int) -> date:
    """The local date a period starts in ``year``-``month``: ``day``, or the month's last day."""
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def start_of_local_day(day: date, timezone: str) -> datetime:
    """The first instant (UTC) whose local date is ``day``.

    That is local midnight, except where a DST change skips midnight: then the day starts
    at the change.
    """
    zone = ZoneInfo(timezone)
    midnight = datetime.combine(day, time(0), tzinfo=zone)
    instant = midnight.astimezone(UTC)
    if instant.astimezone(zone).date() == day and instant.astimezone(zone).time() == time(0):
        return instant
    # Midnight does not exist on this day: find the first minute that belongs to it.
    low, high = instant - timedelta(hours=3), instant + timedelta(hours=3)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).date() >= day:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def _shift_month(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def period_starting_in(year: int, month: int, day: int, timezone: str) -> BudgetPeriod:
    next_year, next_month = _shift_month(year, month, 1)
    return BudgetPeriod(
        start_of_local_day(anchor_date(year, month, day), timezone),
        start_of_local_day(anchor_date(next_year, next_month, day), timezone),
    )


def budget_period_at(instant: datetime, signed_up_at: datetime, timezone: str) -> BudgetPeriod:
    """The budget period that contains ``instant`` for an account (R7)."""
    instant = _require_aware(instant)
    day = signup_day(signed_up_at, timezone)
    local = instant.astimezone(ZoneInfo(timezone))
    # The local month is a guess: a clock set back across midnight on the reset day shows
    # the previous month's date after the period has started. Walk from the month before.
    year, month = _shift_month(local.year, local.month, -1)
    while True:
        period = period_starting_in(year, month, day, timezone)
        if instant < period.end:
            return period
        year, month = _shift_month(year, month, 1)


def _require_aware(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"instant without a UTC offset: {instant.isoformat()}")
    return instant
