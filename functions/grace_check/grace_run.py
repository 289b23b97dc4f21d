"""R9, R10: the hourly check of the accounts whose grace period runs.

For each account with a grace period, read from the sparse ``grace`` index:

* before the grace end, each past-due invoice is collected again on the retry days after
  the first failure (``billing.grace.RETRY_DAYS``), once per day reached, never at or after
  the grace end; a retry that pays everything past due ends the grace period;
* 72 and 24 hours before the grace end, while something is still past due after the
  retries, the contractor is reminded of the end (R14), each reminder once;
* at or after the grace end, with anything still past due, the account is paused for
  non-payment from the grace end exactly (its email comes from the accounts stream).

Running the check again, or twice at once, charges and pauses nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from functions.adapters.event_bus import EventBus
from functions.adapters.grace_periods import GracePeriods
from functions.billing.account import Account
from functions.billing.errors import BillingError
from functions.billing.events import AccountPaused, BillingEvent
from functions.billing.grace import RETRY_DAYS, grace_over, retry_due
from functions.billing.invoices import AttemptOutcome, Invoice
from functions.billing.notices import Notice, reminder_due
from functions.usecases.collection import Collection, outcome_events

logger = Logger(child=True)

RUN = "grace_check"


class InvalidRun(ValueError):
    """An event that is not a grace check run."""


class GraceCheckIncomplete(RuntimeError):
    """Some accounts could not be checked, or their events not announced: the run fails so
    that it is retried, and a retry does only what is still due."""


def parse_run(event: Any) -> None:
    if not isinstance(event, dict) or event.get("run") != RUN:
        raise InvalidRun(f"not a {RUN} run")


class Reminders(Protocol):
    """Sends a notice once per notice id (``adapters.notices.Notifier``)."""

    def send(self, notice: Notice, account: Account, now: datetime) -> bool: ...


@dataclass(frozen=True, slots=True)
class GraceOutcome:
    running: int
    retried: int
    paused: int
    reminded: int = 0


class GraceRun:
    def __init__(
        self,
        grace: GracePeriods,
        collection: Collection,
        bus: EventBus,
        reminders: Reminders,
        retry_days: Sequence[int] = RETRY_DAYS,
    ) -> None:
        self._grace = grace
        self._collection = collection
        self._bus = bus
        self._reminders = reminders
        self._retry_days = tuple(retry_days)

    def run(self, now: datetime) -> GraceOutcome:
        running = retried = paused = reminded = 0
        announced: list[BillingEvent] = []
        failed: list[str] = []
        for contractor_id in self._grace.running():
            running += 1
            try:
                events, retries, account = self._check(contractor_id, now)
            except BillingError:
                logger.exception("grace period not checked", extra={"contractor_id": contractor_id})
                failed.append(contractor_id)
                continue
            retried += retries
            paused += sum(1 for event in events if isinstance(event, AccountPaused))
            announced += events
            try:
                # Read again only when a retry or the pause changed what was read.
                current = account if not retries and not events else None
                reminded += self._remind(contractor_id, current, now)
            except Exception:
                logger.exception("grace reminder not sent", extra={"contractor_id": contractor_id})
                failed.append(contractor_id)
        if announced:
            refused = self._bus.publish(announced)
            failed += [announced[position].contractor_id or "" for position in refused]
        logger.info(
            "grace periods checked",
            extra={"running": running, "retried": retried, "paused": paused, "reminded": reminded},
        )
        if failed:
            raise GraceCheckIncomplete(f"{len(failed)} accounts not checked or not announced")
        return GraceOutcome(running, retried, paused, reminded)

    def _remind(self, contractor_id: str, account: Account | None, now: datetime) -> int:
        """R14: the reminder due at ``now``, once, from the account as it is after the
        retries (``None``: read it again), so that it tells the balance still past due and
        none is sent when a retry paid it."""
        if account is None:
            account = self._grace.get(contractor_id)
        notice = reminder_due(account, now)
        if notice is None:
            return 0
        return int(self._reminders.send(notice, account, now))

    def _check(self, contractor_id: str, now: datetime) -> tuple[list[BillingEvent], int, Account]:
        """The retries due and the pause at the grace end; the events, the number of
        retries and the account as read before them."""
        account = self._grace.get(contractor_id)
        if account.first_failure_at is None or account.grace_ends_at is None:
            return [], 0, account  # paid meanwhile
        if grace_over(account, now):
            paused = self._grace.pause(contractor_id, now)
            return ([paused] if paused else []), 0, account
        if now >= account.grace_ends_at:
            return [], 0, account
        events: list[BillingEvent] = []
        retries = 0
        for invoice in self._grace.past_due_invoices(contractor_id):
            if not self._due(account, invoice, now):
                continue
            after = self._collection.retry(invoice, account, now)
            if after.attempts != invoice.attempts or after.status is not invoice.status:
                retries += 1
                events += outcome_events(after)
        return events, retries, account

    def _due(self, account: Account, invoice: Invoice, now: datetime) -> bool:
        assert account.first_failure_at is not None
        if not invoice.attempts:
            return False
        last = invoice.attempts[-1]
        if last.outcome is AttemptOutcome.UNKNOWN:
            return True  # Collection leaves one under way alone, and resolves a stale one
        return retry_due(account.first_failure_at, last.at, now, self._retry_days)
