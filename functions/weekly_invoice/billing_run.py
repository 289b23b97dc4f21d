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
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from aws_lambda_powertools import Logger

from functions.adapters.accounts import AccountStore
from functions.adapters.invoicing import InvoiceStore, Issued
from functions.adapters.models import AccountModel
from functions.billing.events import InvoiceIssued
from functions.billing.invoices import (
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    local_friday,
    threshold_invoice_id,
    weekly_invoice_id,
)
from functions.usecases.collection import Collection

logger = Logger(child=True)
MAX_MESSAGES = 10
# SendMessageBatch calls in flight at once during a fan-out: one after another, 100,000
# accounts would take 10,000 round trips, longer than the function's two minutes.
FAN_OUT_SENDERS = 16


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
        collection: Collection,
        sqs: Any,
        queue_url: str,
    ) -> None:
        self._invoices = invoices
        self._accounts = accounts
        self._collection = collection
        self._sqs = sqs
        self._queue_url = queue_url

    # ------------------------------------------------------------------ triggers

    def fan_out(self, timezone: str, now: datetime) -> int:
        """R3: queue the weekly invoice of every billable account of ``timezone``."""
        friday = local_friday(now, timezone)
        if friday is None:
            logger.warning("weekly run outside Friday", extra={"timezone": timezone})
            return 0
        with ThreadPoolExecutor(FAN_OUT_SENDERS, thread_name_prefix="fan-out") as senders:
            sending = [
                senders.submit(self._send, batch) for batch in self._batches(timezone, friday)
            ]
        # Every batch is tried; a refused one fails the run, whose retry sends again.
        refused = [error for error in (future.exception() for future in sending) if error]
        if refused:
            raise refused[0]
        sent = sum(future.result() for future in sending)
        logger.info("weekly run fanned out", extra={"timezone": timezone, "accounts": sent})
        return sent

    def weekly(self, work: WeeklyWork, now: datetime) -> Invoice | None:
        invoice_id = weekly_invoice_id(work.contractor_id, work.friday)
        issued = self._invoices.issue_with_account(
            work.contractor_id, invoice_id, InvoiceKind.WEEKLY, now
        )
        return self._bill(issued, now)

    def threshold(self, contractor_id: str, sequence: int, now: datetime) -> Invoice | None:
        """R4: the threshold invoice that follows the account's ``sequence``-th invoice.

        A stream record is retried at once, not later: when the payment's outcome is not
        known yet, the record succeeds and Stripe's webhook settles the attempt."""
        issued = self._invoices.issue_with_account(
            contractor_id,
            threshold_invoice_id(contractor_id, sequence + 1),
            InvoiceKind.THRESHOLD,
            now,
            while_sequence=sequence,
        )
        try:
            return self._bill(issued, now)
        except PaymentOutcomeUnknown:
            logger.warning("threshold invoice awaits its payment's outcome")
            return issued.invoice if issued else None

    # ------------------------------------------------------------------ steps

    def _bill(self, issue: Issued | None, now: datetime) -> Invoice | None:
        if issue is None:
            return None
        invoice = issue.invoice
        # The account as this issue left it; read when the invoice was issued before.
        account = issue.account or self._accounts.get(invoice.contractor_id)
        issued = InvoiceIssued.of(invoice)
        invoice = self._collection.collect(invoice, account, now)
        if invoice.status is InvoiceStatus.OPEN:
            # Stripe's answer never came: the input is delivered again, and the retry finds
            # the attempt in Stripe's records or repeats it under the same idempotency key.
            raise PaymentOutcomeUnknown(invoice.invoice_id)
        if invoice.status is InvoiceStatus.PAST_DUE:
            # R9, R14: the email names the grace end, which the failure just stored.
            account = self._accounts.get(invoice.contractor_id)
        self._collection.announce(invoice, account, now, also=[issued])
        return invoice

    def _billable(self, timezone: str) -> Iterator[str]:
        for item in AccountModel.billable.query(timezone):
            yield item.contractor_id

    def _batches(self, timezone: str, friday: date) -> Iterator[list[WeeklyWork]]:
        batch: list[WeeklyWork] = []
        for contractor_id in self._billable(timezone):
            batch.append(WeeklyWork(contractor_id, friday))
            if len(batch) == MAX_MESSAGES:
                yield batch
                batch = []
        if batch:
            yield batch

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


class PaymentOutcomeUnknown(RuntimeError):
    def __init__(self, invoice_id: str) -> None:
        super().__init__(f"invoice {invoice_id}: the payment's outcome is not known yet")


class WorkNotQueued(RuntimeError):
    """The work queue refused messages: the schedule's retry runs the fan-out again."""
