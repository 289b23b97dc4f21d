"""Builders and an independent calendar reference for the unit tests.

The reference computes R7 from the calendar with nothing from ``functions.billing.budget``:
a period starts on the first instant of the local date ``min(signup day, month length)``,
and the period holding an instant is the one whose start date is the latest such date on
or before the instant's local date. That reading is exact for every zone whose local date
never goes backwards, which holds for all the zones these tests use.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from functions.billing.account import Account, open_account
from functions.billing.leads import Lead
from functions.billing.money import Money

CHICAGO = "America/Chicago"
LOS_ANGELES = "America/Los_Angeles"
SANTIAGO = "America/Santiago"


def at_local(zone: str, *fields: int, fold: int = 0) -> datetime:
    """An aware datetime on the wall clock of ``zone`` (year, month, day[, h, m, s, us])."""
    return datetime(*fields, tzinfo=ZoneInfo(zone), fold=fold)


def at_utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


def month_length(year: int, month: int) -> int:
    """Days in a month, as the day before the first of the next month."""
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def previous_month(year: int, month: int) -> tuple[int, int]:
    return (year, month - 1) if month > 1 else (year - 1, 12)


def next_month(year: int, month: int) -> tuple[int, int]:
    return (year, month + 1) if month < 12 else (year + 1, 1)


def anchor(year: int, month: int, signup_day: int) -> date:
    """R7: the local date a period starts on in a month."""
    return date(year, month, min(signup_day, month_length(year, month)))


def expected_start_date(local_day: date, signup_day: int) -> date:
    """R7: the local start date of the period that holds a local date."""
    this_month = anchor(local_day.year, local_day.month, signup_day)
    if local_day >= this_month:
        return this_month
    return anchor(*previous_month(local_day.year, local_day.month), signup_day)


def expected_end_date(start_date: date, signup_day: int) -> date:
    return anchor(*next_month(start_date.year, start_date.month), signup_day)


def first_instant(local_day: date, zone: str) -> datetime:
    """The first UTC instant whose local date in ``zone`` is ``local_day``.

    Local midnight with ``fold=0``. Where a DST change skips midnight (America/Santiago),
    PEP 495 gives that non-existent wall time the offset in force before the change, which
    lands exactly on the change: the first instant of the day.
    """
    return datetime.combine(local_day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def make_account(
    *,
    budget: int = 10_000,
    signed_up_at: datetime | None = None,
    timezone: str = CHICAGO,
    contractor_id: str = "contractor-1",
    **changes: Any,
) -> Account:
    """An account opened through ``open_account``, then with ``changes`` applied."""
    account = open_account(
        contractor_id=contractor_id,
        business_name="Rivera Roofing",
        billing_email="billing@rivera-roofing.example",
        locale="es",
        timezone=timezone,
        signed_up_at=signed_up_at or at_local(timezone, 2024, 1, 15, 10),
        monthly_budget=Money(budget),
    )
    return replace(account, **changes) if changes else account


def make_lead(
    *,
    delivered_at: datetime,
    price: int = 1_000,
    lead_id: str = "lead-1",
    contractor_id: str = "contractor-1",
    category: str = "roofing",
) -> Lead:
    return Lead(lead_id, contractor_id, Money(price), delivered_at.astimezone(UTC), category)
