"""R7, R8: the daily reset of a timezone's budget periods.

The schedule of a timezone fires at 00:05 local time every day. Every account of that
timezone whose stored budget period has ended is rolled over to the period containing the
run's instant: spend starts from zero, the ended period is kept as the previous one, and
a budget pause lifts (announced as ``AccountReactivated``; its email comes from the
accounts stream, ``functions/notify``). Accounts a lead has rolled over already are not
touched. A run delivered twice changes nothing more.

The same daily run tells the contractors of the timezone whose card on file expires at
the end of the local month (R14), once per card and month.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from aws_lambda_powertools import Logger

from functions.adapters.budget_periods import BudgetPeriods
from functions.adapters.event_bus import EventBus
from functions.billing.account import Account
from functions.billing.errors import BillingError
from functions.billing.events import AccountReactivated
from functions.billing.invoices import BILLING_TIMEZONES
from functions.billing.notices import Notice, card_expiring

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


class Cards(Protocol):
    def expiring(self, timezone: str, month: str) -> Iterable[Account]: ...


class Notices(Protocol):
    """Sends a notice once per notice id (``adapters.notices.Notifier``)."""

    def send(self, notice: Notice, account: Account, now: datetime) -> bool: ...


@dataclass(frozen=True, slots=True)
class ResetOutcome:
    due: int
    reset: int
    reactivated: int
    cards_expiring: int = 0


class ResetRun:
    def __init__(
        self,
        periods: BudgetPeriods,
        bus: EventBus,
        cards: Cards,
        notices: Notices,
    ) -> None:
        self._periods = periods
        self._bus = bus
        self._cards = cards
        self._notices = notices

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
        expiring = self._cards_expiring(request.timezone, now, failed)
        logger.info(
            "budget periods reset",
            extra={
                "timezone": request.timezone,
                "due": due,
                "reset": reset,
                "cards_expiring": expiring,
            },
        )
        if failed:
            raise ResetIncomplete(f"{len(failed)} accounts not reset, announced or told")
        return ResetOutcome(due, reset, len(reactivations), expiring)

    def _cards_expiring(self, timezone: str, now: datetime, failed: list[str]) -> int:
        """R14: tell each account of ``timezone`` whose card expires this local month."""
        local = now.astimezone(ZoneInfo(timezone))
        told = 0
        for account in self._cards.expiring(timezone, f"{local.year:04d}-{local.month:02d}"):
            notice = card_expiring(account, now)
            if notice is None:
                continue  # the card was replaced since the index was read
            try:
                told += int(self._notices.send(notice, account, now))
            except Exception:
                logger.exception(
                    "card expiry notice not sent", extra={"contractor_id": account.contractor_id}
                )
                failed.append(account.contractor_id)
        return told
