"""R7, R8: the daily reset of a timezone's budget periods.

The schedule of a timezone fires at 00:05 local time every day. Every account of that
timezone whose stored budget period has ended is rolled over to the period containing the
run's instant: spend starts from zero, the ended period is kept as the previous one, and
a budget pause lifts (announced as ``AccountReactivated``). Accounts a lead has rolled
over already are not touched. A run delivered twice changes nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from functions.adapters.budget_periods import BudgetPeriods
from functions.adapters.event_bus import EventBus
from functions.billing.errors import BillingError
from functions.billing.events import AccountReactivated
from functions.billing.invoices import BILLING_TIMEZONES

logger = Logger(child=True)

RUN = "budget_reset"


class InvalidRun(ValueError):
    """An event that is not a budget reset run of a billing timezone."""


class ResetIncomplete(RuntimeError):
    """Some accounts could not be reset, or their reactivations not announced: the run
    fails so that it is retried, and a retry resets only what is still due."""


@dataclass(frozen=True, slots=True)
class ResetRequest:
    timezone: str

    @classmethod
    def parse(cls, event: Any) -> ResetRequest:
        if not isinstance(event, dict) or event.get("run") != RUN:
            raise InvalidRun(f"not a {RUN} run")
        timezone = event.get("timezone")
        if timezone not in BILLING_TIMEZONES:
            raise InvalidRun(f"{timezone!r} is not a billing timezone")
        return cls(str(timezone))


class ReactivationNotices(Protocol):
    """Where the contractor hears of a reactivation (R14); the email comes later."""

    def reactivated(self, events: Sequence[AccountReactivated]) -> None: ...


class NoNotices:
    def reactivated(self, events: Sequence[AccountReactivated]) -> None:
        return None


@dataclass(frozen=True, slots=True)
class ResetOutcome:
    due: int
    reset: int
    reactivated: int


class ResetRun:
    def __init__(
        self,
        periods: BudgetPeriods,
        bus: EventBus,
        notices: ReactivationNotices | None = None,
    ) -> None:
        self._periods = periods
        self._bus = bus
        self._notices = notices or NoNotices()

    def run(self, request: ResetRequest, now: datetime) -> ResetOutcome:
        due = reset = 0
        reactivations: list[AccountReactivated] = []
        failed: list[str] = []
        for contractor_id in self._periods.due(request.timezone, now):
            due += 1
            try:
                events = self._periods.reset(contractor_id, now)
            except BillingError:
                logger.exception("budget period not reset", extra={"contractor_id": contractor_id})
                failed.append(contractor_id)
                continue
            reset += 1
            reactivations += events
        if reactivations:
            refused = self._bus.publish(reactivations)
            if refused:
                failed += [reactivations[position].contractor_id for position in refused]
            self._notices.reactivated(reactivations)
        logger.info(
            "budget periods reset",
            extra={"timezone": request.timezone, "due": due, "reset": reset},
        )
        if failed:
            raise ResetIncomplete(f"{len(failed)} accounts not reset or not announced")
        return ResetOutcome(due, reset, len(reactivations))
