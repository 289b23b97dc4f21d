"""Schedule expressions (``cron(...)``, ``rate(...)``, ``at(...)``) and their occurrences.

Cron expressions follow EventBridge's six fields (minutes hours day-of-month month
day-of-week year, with ``? L W #``), evaluated in the schedule's IANA time zone the way
EventBridge Scheduler does across daylight saving time: a local time that does not exist
(the hour skipped in spring) has no occurrence, and a local time that happens twice (the
hour repeated in autumn) occurs once, at its first instant. Rates are fixed durations
("1 day" is 24 hours whatever the clocks do).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from local.template import TemplateError

_MONTHS = {
    name: i
    for i, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}
_DAYS = {name: i for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1)}


class ScheduleExpressionError(TemplateError):
    pass


def _aws_weekday(day: date) -> int:
    """EventBridge numbers the days of the week 1 (Sunday) to 7 (Saturday)."""
    return (day.weekday() + 1) % 7 + 1


def _parse_values(
    field: str, low: int, high: int, names: dict[str, int], what: str
) -> frozenset[int]:
    values: set[int] = set()
    for part in field.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleExpressionError(f"bad step in {what} field {field!r}")
            step = int(step_text)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-", 1)
            start, end = _value(first, names, what), _value(last, names, what)
        else:
            start = _value(part, names, what)
            end = high if step != 1 else start
        if not (low <= start <= high and low <= end <= high):
            raise ScheduleExpressionError(f"{what} field {field!r} out of range {low}-{high}")
        if start <= end:
            values.update(range(start, end + 1, step))
        else:  # a range that wraps, like FRI-MON
            span = list(range(start, high + 1)) + list(range(low, end + 1))
            values.update(span[::step])
    return frozenset(values)


def _value(text: str, names: dict[str, int], what: str) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        raise ScheduleExpressionError(f"bad value {text!r} in {what} field")
    return int(text)


@dataclass(frozen=True)
class CronExpression:
    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    day_of_month: str
    months: frozenset[int]
    day_of_week: str
    years: frozenset[int]

    @classmethod
    def parse(cls, body: str) -> CronExpression:
        fields = body.split()
        if len(fields) != 6:
            raise ScheduleExpressionError(f"cron({body}) needs 6 fields, got {len(fields)}")
        minutes, hours, dom, month, dow, year = fields
        if (dom == "?") == (dow == "?"):
            raise ScheduleExpressionError(
                f"cron({body}): exactly one of day-of-month and day-of-week must be '?'"
            )
        expression = cls(
            text=f"cron({body})",
            minutes=_parse_values(minutes, 0, 59, {}, "minutes"),
            hours=_parse_values(hours, 0, 23, {}, "hours"),
            day_of_month=dom.upper(),
            months=_parse_values(month, 1, 12, _MONTHS, "month"),
            day_of_week=dow.upper(),
            years=_parse_values(year, 1970, 2199, {}, "year"),
        )
        # Parse the day fields once on a known date so that a bad field fails now.
        expression.matches_date(date(2024, 1, 1))
        return expression

    def times_of_day(self) -> list[time]:
        return [time(h, m) for h in sorted(self.hours) for m in sorted(self.minutes)]

    def matches_date(self, day: date) -> bool:
        if day.year not in self.years or day.month not in self.months:
            return False
        if self.day_of_month != "?":
            return self._matches_day_of_month(day)
        return self._matches_day_of_week(day)

    def _matches_day_of_month(self, day: date) -> bool:
        last = calendar.monthrange(day.year, day.month)[1]
        field = self.day_of_month
        if field == "L":
            return day.day == last
        if field == "LW":
            target = date(day.year, day.month, last)
            while target.weekday() >= 5:
                target -= timedelta(days=1)
            return day == target
        if field.endswith("W"):
            wanted = int(field[:-1]) if field[:-1].isdigit() else 0
            if not 1 <= wanted <= 31:
                raise ScheduleExpressionError(f"bad day-of-month {field!r}")
            if wanted > last:
                return False
            return day == _nearest_weekday(date(day.year, day.month, wanted))
        return day.day in _parse_values(field, 1, 31, {}, "day-of-month")

    def _matches_day_of_week(self, day: date) -> bool:
        field = self.day_of_week
        weekday = _aws_weekday(day)
        if field == "L":
            return weekday == 7
        if field.endswith("L"):
            wanted = _value(field[:-1], _DAYS, "day-of-week")
            return weekday == wanted and day.day + 7 > calendar.monthrange(day.year, day.month)[1]
        if "#" in field:
            day_text, nth_text = field.split("#", 1)
            wanted = _value(day_text, _DAYS, "day-of-week")
            if not nth_text.isdigit() or not 1 <= int(nth_text) <= 5:
                raise ScheduleExpressionError(f"bad day-of-week {field!r}")
            return weekday == wanted and (day.day - 1) // 7 + 1 == int(nth_text)
        return weekday in _parse_values(field, 1, 7, _DAYS, "day-of-week")


def _nearest_weekday(day: date) -> date:
    """The weekday nearest to ``day`` within its month (the ``W`` of cron)."""
    if day.weekday() == 5:  # Saturday -> Friday, or Monday when the 1st is a Saturday
        before = day - timedelta(days=1)
        return before if before.month == day.month else day + timedelta(days=2)
    if day.weekday() == 6:  # Sunday -> Monday, or Friday when Monday is next month
        after = day + timedelta(days=1)
        return after if after.month == day.month else day - timedelta(days=2)
    return day


@dataclass(frozen=True)
class RateExpression:
    text: str
    period: timedelta


@dataclass(frozen=True)
class AtExpression:
    text: str
    local: datetime  # naive, in the schedule's time zone


ScheduleExpression = CronExpression | RateExpression | AtExpression


def parse_schedule_expression(text: str) -> ScheduleExpression:
    text = text.strip()
    match = re.fullmatch(r"(cron|rate|at)\((.*)\)", text)
    if match is None:
        raise ScheduleExpressionError(f"unknown schedule expression {text!r}")
    kind, body = match.groups()
    if kind == "cron":
        return CronExpression.parse(body)
    if kind == "at":
        try:
            return AtExpression(text, datetime.fromisoformat(body).replace(tzinfo=None))
        except ValueError as exc:
            raise ScheduleExpressionError(f"bad {text!r}") from exc
    rate = re.fullmatch(r"\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*", body)
    if rate is None or int(rate.group(1)) == 0:
        raise ScheduleExpressionError(f"bad rate expression {text!r}")
    unit = rate.group(2).rstrip("s")
    seconds = {"minute": 60, "hour": 3600, "day": 86400}[unit] * int(rate.group(1))
    return RateExpression(text, timedelta(seconds=seconds))


def _local_to_utc(local: datetime, zone: ZoneInfo) -> datetime | None:
    """The first instant a local wall-clock time names, or None when DST skips it."""
    aware = local.replace(tzinfo=zone, fold=0)
    instant = aware.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != local:
        return None
    return instant


def occurrences(
    expression: ScheduleExpression,
    timezone: str,
    after: datetime,
    until: datetime,
    anchor: datetime,
) -> list[datetime]:
    """The instants (aware, UTC) in ``(after, until]`` at which the schedule fires.

    ``anchor`` is when a rate schedule starts counting (its start date, or the moment the
    local stack created it); a rate schedule fires at ``anchor + k * period``, ``k >= 1``.
    """
    if after.tzinfo is None or until.tzinfo is None or anchor.tzinfo is None:
        raise ValueError("instants must be timezone-aware")
    if until <= after:
        return []
    zone = ZoneInfo(timezone)
    if isinstance(expression, RateExpression):
        period = expression.period
        first = max(1, int((after - anchor) / period))
        found = []
        k = first
        while True:
            instant = anchor + k * period
            if instant > until:
                break
            if instant > after:
                found.append(instant.astimezone(UTC))
            k += 1
        return found
    if isinstance(expression, AtExpression):
        once = _local_to_utc(expression.local, zone)
        return [once] if once is not None and after < once <= until else []
    found = []
    day = after.astimezone(zone).date()
    last_day = until.astimezone(zone).date()
    times = expression.times_of_day()
    while day <= last_day:
        if expression.matches_date(day):
            for moment in times:
                at = _local_to_utc(datetime.combine(day, moment), zone)
                if at is not None and after < at <= until:
                    found.append(at)
        day += timedelta(days=1)
    return found
