"""When schedules fire as the simulated clock moves: EventBridge cron in a time zone
across daylight saving time, rates, and what the target receives."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from local.scheduler import Scheduler
from local.schedules import (
    CronExpression,
    ScheduleExpressionError,
    occurrences,
    parse_schedule_expression,
)
from local.specs import ScheduleSpec

pytestmark = pytest.mark.e2e


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def fire(expression: str, timezone: str, after: datetime, until: datetime) -> list[datetime]:
    return occurrences(parse_schedule_expression(expression), timezone, after, until, after)


def test_friday_midnight_in_chicago_follows_the_spring_change_of_offset():
    # DST starts in Chicago on Sunday 2025-03-09: midnight is 06:00Z before, 05:00Z after.
    found = fire("cron(0 0 ? * FRI *)", "America/Chicago", utc(2025, 2, 26), utc(2025, 3, 22))
    assert found == [
        utc(2025, 2, 28, 6),
        utc(2025, 3, 7, 6),
        utc(2025, 3, 14, 5),
        utc(2025, 3, 21, 5),
    ]


def test_friday_midnight_in_chicago_follows_the_autumn_change_of_offset():
    found = fire("cron(0 0 ? * 6 *)", "America/Chicago", utc(2025, 10, 25), utc(2025, 11, 10))
    assert found == [utc(2025, 10, 31, 5), utc(2025, 11, 7, 6)]


def test_a_local_time_skipped_in_spring_does_not_fire_that_day():
    found = fire("cron(30 2 * * ? *)", "America/Chicago", utc(2025, 3, 8), utc(2025, 3, 11))
    assert found == [utc(2025, 3, 8, 8, 30), utc(2025, 3, 10, 7, 30)]


def test_a_local_time_repeated_in_autumn_fires_once_at_its_first_instant():
    found = fire(
        "cron(30 1 * * ? *)", "America/Chicago", utc(2025, 11, 1, 12), utc(2025, 11, 3, 12)
    )
    assert found == [utc(2025, 11, 2, 6, 30), utc(2025, 11, 3, 7, 30)]


def test_the_interval_is_open_at_the_start_and_closed_at_the_end():
    friday = utc(2025, 3, 7, 6)
    assert fire("cron(0 0 ? * FRI *)", "America/Chicago", friday, friday + timedelta(days=1)) == []
    assert fire(
        "cron(0 0 ? * FRI *)", "America/Chicago", friday - timedelta(seconds=1), friday
    ) == [friday]


@pytest.mark.parametrize(
    ("expression", "after", "until", "expected"),
    [
        ("cron(0 12 L * ? *)", utc(2024, 2, 1), utc(2024, 3, 1), [utc(2024, 2, 29, 12)]),
        ("cron(0 9 ? * 6#2 *)", utc(2025, 3, 1), utc(2025, 4, 1), [utc(2025, 3, 14, 9)]),
        ("cron(0 9 ? * 6L *)", utc(2025, 3, 1), utc(2025, 4, 1), [utc(2025, 3, 28, 9)]),
        # The 15th of March 2025 is a Saturday; the nearest weekday is Friday the 14th.
        ("cron(0 9 15W * ? *)", utc(2025, 3, 1), utc(2025, 4, 1), [utc(2025, 3, 14, 9)]),
        # The 1st of February 2025 is a Saturday; W does not leave the month: Monday the 3rd.
        ("cron(0 9 1W * ? *)", utc(2025, 2, 1), utc(2025, 3, 1), [utc(2025, 2, 3, 9)]),
        ("cron(0 9 LW * ? *)", utc(2025, 8, 1), utc(2025, 9, 1), [utc(2025, 8, 29, 9)]),
        (
            "cron(0/20 8 ? * MON-FRI *)",
            utc(2025, 3, 7),
            utc(2025, 3, 11),
            [utc(2025, 3, 7, 8, m) for m in (0, 20, 40)]
            + [utc(2025, 3, 10, 8, m) for m in (0, 20, 40)],
        ),
        ("cron(0 0 1 1 ? 2026)", utc(2025, 1, 1), utc(2027, 12, 31), [utc(2026, 1, 1)]),
        (
            "cron(0 0 1 JAN,JUL ? *)",
            utc(2025, 1, 2),
            utc(2026, 1, 2),
            [utc(2025, 7, 1), utc(2026, 1, 1)],
        ),
    ],
)
def test_cron_fields(expression, after, until, expected):
    assert fire(expression, "UTC", after, until) == expected


def test_a_daily_rate_is_24_hours_whatever_the_local_clocks_do():
    anchor = utc(2025, 3, 8, 6)
    found = occurrences(
        parse_schedule_expression("rate(1 day)"),
        "America/Chicago",
        anchor,
        anchor + timedelta(days=3),
        anchor,
    )
    assert found == [anchor + timedelta(days=k) for k in (1, 2, 3)]


def test_a_rate_counts_from_its_anchor():
    anchor = utc(2025, 1, 1)
    expression = parse_schedule_expression("rate(5 minutes)")
    assert len(occurrences(expression, "UTC", anchor, anchor + timedelta(hours=1), anchor)) == 12
    later = occurrences(
        expression, "UTC", anchor + timedelta(minutes=7), anchor + timedelta(minutes=16), anchor
    )
    assert later == [anchor + timedelta(minutes=10), anchor + timedelta(minutes=15)]


def test_a_one_time_schedule_fires_once_in_its_time_zone():
    expression = parse_schedule_expression("at(2025-03-14T00:00:00)")
    assert occurrences(
        expression, "America/Chicago", utc(2025, 3, 1), utc(2025, 4, 1), utc(2025, 3, 1)
    ) == [utc(2025, 3, 14, 5)]


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 0 * * * *)",  # day-of-month and day-of-week both given
        "cron(0 0 ? * ? *)",  # neither given
        "cron(0 0 ? * FRI)",  # five fields
        "cron(60 0 ? * FRI *)",
        "cron(0 0 ? * FUNDAY *)",
        "cron(0 0 ? * 6#6 *)",
        "rate(0 minutes)",
        "rate(1 week)",
        "every friday",
    ],
)
def test_expressions_eventbridge_rejects_are_rejected(expression):
    with pytest.raises(ScheduleExpressionError):
        parse_schedule_expression(expression)


def test_cron_numbers_days_of_the_week_from_sunday():
    expression = CronExpression.parse("0 0 ? * 1 *")
    assert expression.matches_date(datetime(2025, 3, 9).date())  # a Sunday
    assert not expression.matches_date(datetime(2025, 3, 10).date())


def spec(
    logical_id: str,
    expression: str,
    kind: str = "scheduler",
    input_: str | None = None,
    timezone: str = "America/Chicago",
) -> ScheduleSpec:
    return ScheduleSpec(
        logical_id=logical_id,
        kind=kind,
        name=logical_id,
        arn=f"arn:aws:scheduler:us-east-1:123456789012:schedule/default/{logical_id}",
        expression=parse_schedule_expression(expression),
        timezone=timezone,
        function="Fn",
        input=input_,
    )


def test_due_occurrences_of_several_schedules_come_in_time_order():
    weekly = spec("Weekly", "cron(0 0 ? * FRI *)")
    daily = spec("Daily", "cron(0 0 * * ? *)")
    scheduler = Scheduler([weekly, daily], created_at=utc(2025, 3, 5))
    due = scheduler.due(utc(2025, 3, 6, 12), utc(2025, 3, 8, 12))
    assert [(o.at, o.schedule.logical_id) for o in due] == [
        (utc(2025, 3, 7, 6), "Weekly"),  # template order on a tie
        (utc(2025, 3, 7, 6), "Daily"),
        (utc(2025, 3, 8, 6), "Daily"),
    ]


def test_the_scheduler_fills_in_context_attributes_of_the_input():
    weekly = spec(
        "Weekly",
        "cron(0 0 ? * FRI *)",
        input_='{"kind": "weekly", "at": "<aws.scheduler.scheduled-time>"}',
    )
    (occurrence,) = Scheduler([weekly], utc(2025, 3, 5)).due(utc(2025, 3, 6), utc(2025, 3, 8))
    assert Scheduler.event(occurrence) == {"kind": "weekly", "at": "2025-03-07T06:00:00Z"}


def test_a_scheduled_rule_without_input_sends_a_scheduled_event():
    rule = spec("Nightly", "rate(1 day)", kind="rule", timezone="UTC")
    (occurrence,) = Scheduler([rule], utc(2025, 3, 5)).due(utc(2025, 3, 5), utc(2025, 3, 6))
    event = Scheduler.event(occurrence)
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["time"] == "2025-03-06T00:00:00Z"
    assert event["resources"] == [rule.arn]
    assert json.loads(json.dumps(event)) == event
