"""R7: the budget period starts at local midnight on the signup day of the month.

Expectations come from ``tests.unit.support`` (the calendar, independently of the code
under test) or are written out by hand with the zone's known UTC offsets.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.billing.budget import budget_period_at, signup_day
from tests.unit.support import (
    CHICAGO,
    LOS_ANGELES,
    SANTIAGO,
    anchor,
    at_local,
    at_utc,
    expected_end_date,
    expected_start_date,
    first_instant,
    month_length,
    next_month,
)

ONE_MICROSECOND = timedelta(microseconds=1)
SIGNUP_DAYS = [1, 15, 28, 29, 30, 31]


def signed_up_on(day: int, zone: str = CHICAGO) -> datetime:
    """A signup in the afternoon of ``day`` of a 31-day month, long before the test dates."""
    return at_local(zone, 2023, 7, day, 15, 30)


def assert_starts_at_local_midnight(instant: datetime, zone: str, expected: date) -> None:
    local = instant.astimezone(ZoneInfo(zone))
    assert local.date() == expected
    assert local.time() == time(0)


# --- the start date, around February ----------------------------------------------------


@pytest.mark.parametrize(
    ("day", "instant", "start", "end"),
    [
        # Signup on the 1st: the calendar month.
        (1, (2024, 1, 1, 0, 0, 0), date(2024, 1, 1), date(2024, 2, 1)),
        (1, (2023, 12, 31, 23, 59, 59), date(2023, 12, 1), date(2024, 1, 1)),
        (15, (2024, 2, 14, 23, 59, 59), date(2024, 1, 15), date(2024, 2, 15)),
        (15, (2024, 2, 15, 0, 0, 0), date(2024, 2, 15), date(2024, 3, 15)),
        (28, (2025, 2, 28, 0, 0, 0), date(2025, 2, 28), date(2025, 3, 28)),
        (28, (2024, 2, 28, 12, 0, 0), date(2024, 2, 28), date(2024, 3, 28)),
        # Leap year: the 29th exists in February 2024.
        (29, (2024, 2, 28, 23, 59, 59), date(2024, 1, 29), date(2024, 2, 29)),
        (29, (2024, 2, 29, 0, 0, 0), date(2024, 2, 29), date(2024, 3, 29)),
        (30, (2024, 2, 29, 0, 0, 0), date(2024, 2, 29), date(2024, 3, 30)),
        (30, (2024, 3, 15, 12, 0, 0), date(2024, 2, 29), date(2024, 3, 30)),
        (31, (2024, 1, 31, 0, 0, 0), date(2024, 1, 31), date(2024, 2, 29)),
        (31, (2024, 2, 29, 0, 0, 0), date(2024, 2, 29), date(2024, 3, 31)),
        # Non-leap year: February ends on the 28th, so periods for 29..31 start then.
        (29, (2025, 2, 27, 23, 59, 59), date(2025, 1, 29), date(2025, 2, 28)),
        (29, (2025, 2, 28, 0, 0, 0), date(2025, 2, 28), date(2025, 3, 29)),
        (30, (2025, 3, 15, 12, 0, 0), date(2025, 2, 28), date(2025, 3, 30)),
        (31, (2025, 1, 30, 12, 0, 0), date(2024, 12, 31), date(2025, 1, 31)),
        (31, (2025, 2, 28, 0, 0, 0), date(2025, 2, 28), date(2025, 3, 31)),
        (31, (2026, 2, 28, 0, 0, 0), date(2026, 2, 28), date(2026, 3, 31)),
        # A 30-day month: the 31st does not exist in April either.
        (31, (2025, 4, 30, 0, 0, 0), date(2025, 4, 30), date(2025, 5, 31)),
        (31, (2025, 4, 29, 23, 59, 59), date(2025, 3, 31), date(2025, 4, 30)),
    ],
)
def test_r7_given_signup_day_when_instant_falls_in_a_month_then_period_starts_on_the_right_day(
    day, instant, start, end
):
    # Given an account that signed up on `day` in Chicago
    # When asking for the period that holds a local instant
    period = budget_period_at(at_local(CHICAGO, *instant), signed_up_on(day), CHICAGO)

    # Then it starts at local midnight of `start` and ends at local midnight of `end`
    assert_starts_at_local_midnight(period.start, CHICAGO, start)
    assert_starts_at_local_midnight(period.end, CHICAGO, end)


@pytest.mark.parametrize("year", [2024, 2025, 2026], ids=["leap", "non-leap", "non-leap-2026"])
@pytest.mark.parametrize("day", SIGNUP_DAYS)
def test_r7_given_every_local_day_of_jan_to_mar_then_the_period_matches_the_calendar(year, day):
    # Given a signup day; When asking at the first and last microsecond of every local day
    # from January to March; Then the period starts on the calendar's date, at midnight.
    for month in (1, 2, 3):
        for day_of_month in range(1, month_length(year, month) + 1):
            local_day = date(year, month, day_of_month)
            start = expected_start_date(local_day, day)
            for instant in (
                first_instant(local_day, CHICAGO),
                first_instant(local_day + timedelta(days=1), CHICAGO) - ONE_MICROSECOND,
            ):
                period = budget_period_at(instant, signed_up_on(day), CHICAGO)
                assert_starts_at_local_midnight(period.start, CHICAGO, start)
                assert_starts_at_local_midnight(period.end, CHICAGO, expected_end_date(start, day))


def test_r7_given_leap_february_then_signups_on_29_to_31_restart_on_february_29():
    for day in (29, 30, 31):
        period = budget_period_at(at_local(CHICAGO, 2024, 3, 1, 12), signed_up_on(day), CHICAGO)
        assert period.start == at_utc(2024, 2, 29, 6)  # midnight CST is 06:00 UTC


def test_r7_given_non_leap_february_then_signups_on_29_to_31_restart_on_february_28():
    for day in (29, 30, 31):
        period = budget_period_at(at_local(CHICAGO, 2025, 3, 1, 12), signed_up_on(day), CHICAGO)
        assert period.start == at_utc(2025, 2, 28, 6)


def test_r7_given_signup_late_evening_local_then_the_local_signup_day_counts():
    # 2024-01-31 03:00 UTC is still January 30 in Chicago (21:00 CST)
    signed_up_at = at_utc(2024, 1, 31, 3)

    assert signup_day(signed_up_at, CHICAGO) == 30
    assert signup_day(signed_up_at, "UTC") == 31
    period = budget_period_at(at_utc(2024, 4, 30, 12), signed_up_at, CHICAGO)
    assert_starts_at_local_midnight(period.start, CHICAGO, date(2024, 4, 30))


# --- contiguity ---------------------------------------------------------------------------


@pytest.mark.parametrize("zone", [CHICAGO, LOS_ANGELES])
@pytest.mark.parametrize("year", [2024, 2025])
@pytest.mark.parametrize("day", SIGNUP_DAYS)
def test_r7_given_a_whole_year_then_periods_follow_each_other_without_gap_or_overlap(
    zone, year, day
):
    # Given the period holding New Year's noon
    period = budget_period_at(at_local(zone, year, 1, 1, 12), signed_up_on(day, zone), zone)
    first = expected_start_date(date(year, 1, 1), day)
    year_month = (first.year, first.month)
    for _ in range(13):
        # Then each period starts at local midnight on min(day, month length)
        assert_starts_at_local_midnight(period.start, zone, anchor(*year_month, day))
        # When asking for the period at its end, Then the next one starts exactly there
        following = budget_period_at(period.end, signed_up_on(day, zone), zone)
        assert following.start == period.end
        # and the last microsecond before the end still belongs to the period
        assert budget_period_at(period.end - ONE_MICROSECOND, signed_up_on(day, zone), zone) == (
            period
        )
        period, year_month = following, next_month(*year_month)


# --- daylight saving time ---------------------------------------------------------------
# 2024: DST starts on Sunday 10 March at 02:00 and ends on Sunday 3 November at 02:00 in
# both zones. Chicago: CST = UTC-6, CDT = UTC-5. Los Angeles: PST = UTC-8, PDT = UTC-7.

DAY = 24


@pytest.mark.parametrize(
    ("zone", "day", "instant", "start_utc", "end_utc", "hours"),
    [
        # Signup day equal to the spring change day: the period starts at 00:00 CST,
        # before the change, and lasts 31 days minus the skipped hour.
        (CHICAGO, 10, (2024, 3, 10, 12), (2024, 3, 10, 6), (2024, 4, 10, 5), 31 * DAY - 1),
        (LOS_ANGELES, 10, (2024, 3, 10, 12), (2024, 3, 10, 8), (2024, 4, 10, 7), 31 * DAY - 1),
        # Signup day equal to the autumn change day: 30 days plus the repeated hour.
        (CHICAGO, 3, (2024, 11, 3, 12), (2024, 11, 3, 5), (2024, 12, 3, 6), 30 * DAY + 1),
        (LOS_ANGELES, 3, (2024, 11, 3, 12), (2024, 11, 3, 7), (2024, 12, 3, 8), 30 * DAY + 1),
        # Periods spanning a change.
        (CHICAGO, 1, (2024, 3, 15, 12), (2024, 3, 1, 6), (2024, 4, 1, 5), 31 * DAY - 1),
        (CHICAGO, 15, (2024, 10, 20, 12), (2024, 10, 15, 5), (2024, 11, 15, 6), 31 * DAY + 1),
        (LOS_ANGELES, 1, (2024, 3, 15, 12), (2024, 3, 1, 8), (2024, 4, 1, 7), 31 * DAY - 1),
        (LOS_ANGELES, 15, (2024, 10, 20, 12), (2024, 10, 15, 7), (2024, 11, 15, 8), 31 * DAY + 1),
        # Signup on the 29th..31st: February 29 (CST) to March 31 (CDT).
        (CHICAGO, 31, (2024, 3, 10, 12), (2024, 2, 29, 6), (2024, 3, 31, 5), 31 * DAY - 1),
        # The period before a spring change day ends at midnight CST of that day.
        (CHICAGO, 10, (2024, 3, 9, 23, 59), (2024, 2, 10, 6), (2024, 3, 10, 6), 29 * DAY),
    ],
)
def test_r7_given_a_dst_change_then_periods_run_from_local_midnight_to_local_midnight(
    zone, day, instant, start_utc, end_utc, hours
):
    period = budget_period_at(at_local(zone, *instant), signed_up_on(day, zone), zone)

    assert period.start == at_utc(*start_utc)
    assert period.end == at_utc(*end_utc)
    assert period.end - period.start == timedelta(hours=hours)
    assert period.start.astimezone(ZoneInfo(zone)).time() == time(0)
    assert period.end.astimezone(ZoneInfo(zone)).time() == time(0)


def test_r7_given_the_repeated_hour_of_an_autumn_change_then_the_instant_is_in_its_period():
    # 01:30 happens twice on 3 November 2024 in Chicago; both belong to the period of the 3rd.
    signup = signed_up_on(3)
    for fold in (0, 1):
        instant = at_local(CHICAGO, 2024, 11, 3, 1, 30, fold=fold)
        period = budget_period_at(instant, signup, CHICAGO)
        assert period.start == at_utc(2024, 11, 3, 5)
        assert instant in period


def test_r7_given_santiago_skips_midnight_then_the_period_starts_at_the_first_instant_of_day():
    # Chile's DST starts at 24:00 on Saturday 7 September 2024 (04:00 UTC): the clock jumps
    # from 23:59:59 -04 to 01:00 -03, so 8 September begins at 01:00 local.
    period = budget_period_at(
        at_local(SANTIAGO, 2024, 9, 8, 12), signed_up_on(8, SANTIAGO), SANTIAGO
    )

    assert period.start == at_utc(2024, 9, 8, 4)
    assert period.start.astimezone(ZoneInfo(SANTIAGO)).date() == date(2024, 9, 8)
    assert (period.start - ONE_MICROSECOND).astimezone(ZoneInfo(SANTIAGO)).date() == date(
        2024, 9, 7
    )
    assert period.end == at_utc(2024, 10, 8, 3)  # a normal midnight, -03


def test_r7_given_santiago_repeats_saturday_evening_then_sunday_starts_after_the_repeat():
    # DST ends at 24:00 -03 on Saturday 6 April 2024 (03:00 UTC): the clock goes back to
    # 23:00 -04 on Saturday; Sunday 7 April starts at 04:00 UTC.
    signup = signed_up_on(7, SANTIAGO)
    repeated = at_utc(2024, 4, 7, 3, 30)  # Saturday 23:30 -04, the second time
    before = budget_period_at(repeated, signup, SANTIAGO)
    after = budget_period_at(at_utc(2024, 4, 7, 4), signup, SANTIAGO)

    assert repeated in before
    assert before.end == after.start == at_utc(2024, 4, 7, 4)


def test_r7_given_a_clock_set_back_across_midnight_then_the_period_still_holds_the_instant():
    zone = "America/St_Johns"
    # Given a signup on the 1st; the period of November 2009 starts at 00:00 NDT (-02:30)
    # on 1 November, 02:30 UTC. At 02:31 UTC the clock went back to 23:01 on 31 October.
    signup = at_local(zone, 2009, 1, 1, 12)
    instant = at_utc(2009, 11, 1, 3)  # 31 October 23:30 NST, after the period started

    # When asking for the period that holds the instant
    period = budget_period_at(instant, signup, zone)

    # Then it holds it: it is the period that started at 02:30 UTC
    assert instant in period
    assert period.start == at_utc(2009, 11, 1, 2, 30)


# --- refusals -------------------------------------------------------------------------------


def test_r7_given_a_naive_instant_then_it_is_refused():
    with pytest.raises(ValueError, match="UTC offset"):
        budget_period_at(datetime(2024, 3, 1, 12), signed_up_on(1), CHICAGO)


def test_r7_given_a_naive_signup_then_it_is_refused():
    with pytest.raises(ValueError, match="UTC offset"):
        budget_period_at(at_utc(2024, 3, 1, 12), datetime(2023, 7, 1, 12), CHICAGO)


# --- properties -----------------------------------------------------------------------------

ZONES = [
    "America/Chicago",
    "America/Los_Angeles",
    "America/New_York",
    "America/Denver",
    "America/Phoenix",
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Santiago",  # DST changes at midnight
    "UTC",
]
instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 12, 31), timezones=st.just(UTC)
)


@given(signed_up_at=instants, instant=instants, zone=st.sampled_from(ZONES))
def test_r7_property_the_period_holds_the_instant_and_starts_on_the_signup_day(
    signed_up_at, instant, zone
):
    tz = ZoneInfo(zone)
    day = signed_up_at.astimezone(tz).day

    period = budget_period_at(instant, signed_up_at, zone)

    # It holds the instant.
    assert period.start <= instant < period.end
    # It starts on the first instant of its local date...
    start_date = period.start.astimezone(tz).date()
    assert (period.start - ONE_MICROSECOND).astimezone(tz).date() < start_date
    assert period.start == first_instant(start_date, zone)
    # ...which is min(signup day, month length), the latest such date not after the instant.
    assert start_date.day == min(day, month_length(start_date.year, start_date.month))
    assert start_date == expected_start_date(instant.astimezone(tz).date(), day)
    # It ends where the next period starts, on the next month's signup day.
    assert period.end == first_instant(expected_end_date(start_date, day), zone)
    assert budget_period_at(period.end, signed_up_at, zone).start == period.end
