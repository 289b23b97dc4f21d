"""Which schedule occurrences fall in a move of the simulated clock, and what each sends."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from local.schedules import RateExpression, occurrences
from local.specs import ScheduleSpec
from local.template import ACCOUNT_ID, REGION


@dataclass(frozen=True)
class Occurrence:
    at: datetime
    schedule: ScheduleSpec


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iso_z(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Scheduler:
    def __init__(self, schedules: Sequence[ScheduleSpec], created_at: datetime) -> None:
        self.schedules = list(schedules)
        self.created_at = created_at

    def due(self, after: datetime, until: datetime) -> list[Occurrence]:
        """Every occurrence in ``(after, until]``, in time order (template order on ties)."""
        found: list[tuple[datetime, int, ScheduleSpec]] = []
        for index, schedule in enumerate(self.schedules):
            start = _instant(schedule.start) if schedule.start else None
            end = _instant(schedule.end) if schedule.end else None
            anchor = self.created_at
            if start is not None and isinstance(schedule.expression, RateExpression):
                anchor = start - schedule.expression.period
            for instant in occurrences(
                schedule.expression, schedule.timezone, after, until, anchor
            ):
                if (start is None or instant >= start) and (end is None or instant <= end):
                    found.append((instant, index, schedule))
        found.sort(key=lambda item: (item[0], item[1]))
        return [Occurrence(at, schedule) for at, _, schedule in found]

    @staticmethod
    def event(occurrence: Occurrence) -> Any:
        """The payload the target function receives."""
        schedule = occurrence.schedule
        if schedule.kind == "scheduler":
            if schedule.input is None:
                return {}
            text = (
                schedule.input.replace("<aws.scheduler.schedule-arn>", schedule.arn)
                .replace("<aws.scheduler.scheduled-time>", iso_z(occurrence.at))
                .replace("<aws.scheduler.execution-id>", str(uuid.uuid4()))
                .replace("<aws.scheduler.attempt-number>", "1")
            )
            return json.loads(text)
        if schedule.input is not None:
            return json.loads(schedule.input)
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT_ID,
            "time": iso_z(occurrence.at),
            "region": REGION,
            "resources": [schedule.arn],
            "detail": {},
        }
