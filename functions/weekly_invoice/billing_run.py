"""R3..R6: issue an invoice, collect it off-session, email it, announce it.

Three triggers reach this function:

- the Friday schedule of a timezone (R3) fans out one work message per billable account
  of that timezone, read from the sparse ``billable`` index: accounts with nothing
  unbilled cost nothing;
- each work message issues that account's weekly invoice, named by the account and the
  Friday, so the same Friday run delivered twice issues nothing more;
- the accounts stream, filtered on ``invoice_due``, issues a threshold invoice (R4) named
  by the number of invoices the account had issued, so two leads crossing the threshold
  together give one invoice.

Every step is idempotent by the invoice id: a retried message or record finishes what the
first delivery started and repeats no charge, no email and no fact.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from aws_lambda_powertools import Logger

from functions.adapters.accounts import AccountStore
from functions.adapters.event_bus import EventBus
from functions.adapters.invoice_email import render_invoice_email
from functions.adapters.invoicing import InvoiceStore
from functions.adapters.mailer import SesMailer
from functions.adapters.models import AccountModel
from functions.billing.account import Account
from functions.billing.events import BillingEvent, InvoiceIssued, InvoicePaid, PaymentFailed
from functions.billing.invoices import (
    AttemptOutcome,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    PaymentAttempt,
    local_friday,
    threshold_invoice_id,
    weekly_invoice_id,
)
from functions.billing.payments import Payments

logger = Logger(child=True)
MAX_MESSAGES = 10


@dataclass(frozen=True, slots=True)
class WeeklyWork:
    """One account's weekly invoice for one Friday: the body of a work message."""

    contractor_id: str
    friday: date

    def body(self) -> str:
        return json.dumps({"contractor_id": self.contractor_id, "friday": self.friday.isoformat()})

    @classmethod
    def parse(cls, body: str) -> WeeklyWork:
        data = json.loads(body)
        return cls(str(data["contractor_id"]), date.fromisoformat(str(data["friday"])))


class BillingRun:
    def __init__(
        self,
        *,
        invoices: InvoiceStore,
        accounts: AccountStore,
        payments: Callable[[], Payments],
        mailer: SesMailer,
        bus: EventBus,
        sqs: Any,
        queue_url: str,
    ) -> None:
        self._invoices = invoices
        self._accounts = accounts
        self._payments = payments
        self._mailer = mailer
        self._bus = bus
        self._sqs = sqs
        self._queue_url = queue_url

    # ------------------------------------------------------------------ triggers

    def fan_out(self, timezone: str, now: datetime) -> int:
        """R3: queue the weekly invoice of every billable account of ``timezone``."""
        friday = local_friday(now, timezone)
        if friday is None:
            logger.warning("weekly run outside Friday", extra={"timezone": timezone})
            return 0
        sent = 0
        batch: list[WeeklyWork] = []
        for contractor_id in self._billable(timezone):
            batch.append(WeeklyWork(contractor_id, friday))
            if len(batch) == MAX_MESSAGES:
                sent += self._send(batch)
                batch = []
        if batch:
            sent += self._send(batch)
        logger.info("weekly run fanned out", extra={"timezone": timezone, "accounts": sent})
        return sent

    def weekly(self, work: WeeklyWork, now: datetime) -> Invoice | None:
        invoice_id = weekly_invoice_id(work.contractor_id, work.friday)
        invoice = self._invoices.issue(work.contractor_id, invoice_id, InvoiceKind.WEEKLY, now)
        return self._bill(invoice, now)

    def threshold(self, contractor_id: str, sequence: int, now: datetime) -> Invoice | None:
        """R4: the threshold invoice that follows the account's ``sequence``-th invoice."""
        invoice = self._invoices.issue(
            contractor_id,
            threshold_invoice_id(contractor_id, sequence + 1),
            InvoiceKind.THRESHOLD,
            now,
            while_sequence=sequence,
        )
        return self._bill(invoice, now)

    # ------------------------------------------------------------------ steps

    def _bill(self, invoice: Invoice | None, now: datetime) -> Invoice | None:
        if invoice is None:
            return None
        account = self._accounts.get(invoice.contractor_id)
        events: list[BillingEvent] = [
            InvoiceIssued(
                invoice.contractor_id,
                invoice.invoice_id,
                invoice.kind.value,
                invoice.total,
                invoice.issued_at,
            )
        ]
        invoice = self._collect(invoice, account, now)
        events += _outcome_events(invoice)
        self._email(invoice, account, now)
        failed = self._bus.publish(events)
        if failed:
            raise EventsNotPublished(f"{len(failed)} events of {invoice.invoice_id}")
        return invoice

    def _collect(self, invoice: Invoice, account: Account, now: datetime) -> Invoice:
        """R6: charge the card on file off-session, one PaymentIntent per attempt."""
        if invoice.status is not InvoiceStatus.OPEN:
            return invoice  # collected already
        resuming = bool(invoice.attempts) and invoice.attempts[-1].outcome is AttemptOutcome.UNKNOWN
        number = len(invoice.attempts) if resuming else invoice.next_attempt_number
        card, customer = account.card, account.stripe_customer_id
        pending = PaymentAttempt(number, now, AttemptOutcome.UNKNOWN, card=card)
        if not resuming and not self._invoices.start_attempt(invoice, pending):
            resuming = True  # another run started this attempt: resolve, never charge anew
        if card is None or customer is None:
            outcome = PaymentAttempt(number, now, AttemptOutcome.NO_CARD, decline_code="no_card")
            return self._invoices.settle_attempt(invoice, outcome, now)
        payments = self._payments()
        result = payments.find_attempt(invoice.invoice_id, number, customer) if resuming else None
        if result is None:
            result = payments.charge(
                invoice.invoice_id,
                number,
                customer,
                card.payment_method_id,
                invoice.total,
                f"CraftJack leads, invoice {invoice.invoice_id}",
            )
        attempt = result.attempt(number, now, card)
        if attempt.outcome is AttemptOutcome.UNKNOWN:
            logger.warning("payment outcome unknown", extra={"invoice_id": invoice.invoice_id})
            return invoice
        return self._invoices.settle_attempt(invoice, attempt, now)

    def _email(self, invoice: Invoice, account: Account, now: datetime) -> None:
        """R5: one email per invoice, once its collection has an outcome."""
        if invoice.status is InvoiceStatus.OPEN:
            return
        if not self._invoices.claim_email(invoice.invoice_id, now):
            return
        try:
            rendered = render_invoice_email(invoice, account, sender=self._mailer.sender)
            self._mailer.send(account.billing_email, rendered)
        except Exception:
            self._invoices.release_email(invoice.invoice_id)
            raise
        self._invoices.email_sent(invoice.invoice_id, now)

    def _billable(self, timezone: str) -> Iterator[str]:
        for item in AccountModel.billable.query(timezone):
            yield item.contractor_id

    def _send(self, batch: list[WeeklyWork]) -> int:
        response = self._sqs.send_message_batch(
            QueueUrl=self._queue_url,
            Entries=[
                {"Id": str(position), "MessageBody": work.body()}
                for position, work in enumerate(batch)
            ],
        )
        if response.get("Failed"):
            raise WorkNotQueued(f"work queue refused {response['Failed']}")
        return len(batch)


class EventsNotPublished(RuntimeError):
    """The bus refused some events: the input is retried and announces them again."""


class WorkNotQueued(RuntimeError):
    """The work queue refused messages: the schedule's retry runs the fan-out again."""


def _outcome_events(invoice: Invoice) -> list[BillingEvent]:
    if not invoice.attempts:
        return []
    last = invoice.attempts[-1]
    if invoice.status is InvoiceStatus.PAID:
        paid = next(a for a in invoice.attempts if a.outcome is AttemptOutcome.SUCCEEDED)
        return [
            InvoicePaid(
                invoice.contractor_id, invoice.invoice_id, invoice.total, paid.payment_intent_id
            )
        ]
    if invoice.status is InvoiceStatus.PAST_DUE:
        return [
            PaymentFailed(
                invoice.contractor_id,
                invoice.invoice_id,
                invoice.total,
                last.number,
                last.decline_code or last.outcome.value,
            )
        ]
    return []
