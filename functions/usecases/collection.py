"""R5, R6: collect an invoice off-session and email it once; shared by the functions that
bill (the Friday run, the threshold trigger, Stripe's webhooks, the card update)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from functions.adapters.documents import InvoiceDocuments
from functions.adapters.event_bus import EventBus
from functions.adapters.invoice_email import render_invoice_email
from functions.adapters.invoicing import InvoiceStore
from functions.adapters.mailer import SesMailer
from functions.billing.account import Account, PauseReason
from functions.billing.events import AccountReactivated, BillingEvent, InvoicePaid, PaymentFailed
from functions.billing.invoices import AttemptOutcome, Invoice, InvoiceStatus, PaymentAttempt
from functions.billing.payments import Payments

logger = Logger(child=True)

# Longer than any billing function may run (weekly_invoice: 120 s), shorter than the work
# queue's visibility timeout (720 s): a redelivered message finds the attempt resolvable.
IN_FLIGHT = timedelta(minutes=10)


class EventsNotPublished(RuntimeError):
    """The bus refused some events: the input is retried and announces them again (their
    event ids let consumers discard the repeat)."""


class Collection:
    def __init__(
        self,
        invoices: InvoiceStore,
        payments: Callable[[], Payments],
        mailer: SesMailer | None,
        bus: EventBus,
        documents: InvoiceDocuments | None = None,
    ) -> None:
        """``mailer`` and ``documents``: given to a collection that emails invoices
        (``email``), which keeps each email's PDF in ``documents``."""
        self._invoices = invoices
        self._payments = payments
        self._mailer = mailer
        self._bus = bus
        self._documents = documents

    def announce(
        self,
        invoice: Invoice,
        account: Account,
        now: datetime,
        also: Sequence[BillingEvent] = (),
        attempt: PaymentAttempt | None = None,
    ) -> None:
        """R5, R14: email the invoice once its collection has an outcome, and publish
        ``also`` and the outcome (paid, or payment failed): of its last attempt, or of
        ``attempt`` when given (an attempt made before, announced again)."""
        self.email(invoice, account, now)
        outcome = outcome_events(invoice) if attempt is None else attempt_events(invoice, attempt)
        failed = self._bus.publish([*also, *outcome])
        if failed:
            raise EventsNotPublished(f"{len(failed)} events of {invoice.invoice_id}")

    def collect(self, invoice: Invoice, account: Account, now: datetime) -> Invoice:
        """R6: charge the card on file off-session, one PaymentIntent per attempt.

        The attempt is recorded before Stripe is asked. An attempt recorded less than
        ``IN_FLIGHT`` ago may still be under way in another run: it is left alone, so two
        runs never charge the same invoice at once. An older one whose answer never came is
        resolved from Stripe's records, and repeated under the same idempotency key only
        when Stripe has no trace of it. The invoice comes back ``OPEN`` while the outcome
        is not known. An attempt keeps the instant it started, whoever settles it (this
        run, a later one, Stripe's webhook).
        """
        if invoice.status is not InvoiceStatus.OPEN:
            return invoice  # collected already
        return self._charge(invoice, account, now)

    def retry(self, invoice: Invoice, account: Account, now: datetime) -> Invoice:
        """R9: charge a past-due invoice again, as the next attempt, with the same
        discipline as ``collect``: an attempt under way is left alone or resolved, and two
        runs starting the same attempt number charge once. Whether a retry is due is the
        caller's decision (``billing.grace.retry_due``)."""
        if invoice.status is not InvoiceStatus.PAST_DUE:
            return invoice
        return self._charge(invoice, account, now)

    def retry_with_card_update(
        self, invoice: Invoice, account: Account, now: datetime, card_update: str
    ) -> Invoice:
        """R11: charge a past-due invoice to the card a card update just put on file, as an
        attempt of its own (a retry made earlier the same day does not stand in for it).

        The attempt carries ``card_update``: an invoice attempted with that update already
        is left as it is, so the same update delivered again (the app's confirm and Stripe's
        webhook, a retried request) makes one attempt. An attempt under way is left to the
        run that started it; a stale one is resolved first, and the update's attempt
        follows when the invoice is still past due.
        """
        while invoice.status is InvoiceStatus.PAST_DUE and not invoice.attempted_with(card_update):
            last = invoice.attempts[-1] if invoice.attempts else None
            if last is None or last.outcome is not AttemptOutcome.UNKNOWN:
                return self._charge(invoice, account, now, card_update)
            resolved = self._charge(invoice, account, now)
            if resolved == invoice:
                return invoice  # under way, or its outcome still unknown
            invoice = resolved
        return invoice

    def _charge(
        self,
        invoice: Invoice,
        account: Account,
        now: datetime,
        card_update: str | None = None,
    ) -> Invoice:
        if not invoice.amount_due:
            return self._paid_by_credit(invoice, now)
        card, customer = account.card, account.stripe_customer_id
        last = invoice.attempts[-1] if invoice.attempts else None
        if last is not None and last.outcome is AttemptOutcome.UNKNOWN:
            if now - last.at < IN_FLIGHT:
                return invoice
            number, resuming, card_update = last.number, True, last.card_update
            started = last.at  # an attempt's instant is its start, whoever settles it
        else:
            number, resuming, started = invoice.next_attempt_number, False, now
            pending = PaymentAttempt(
                number, now, AttemptOutcome.UNKNOWN, card=card, card_update=card_update
            )
            if not self._invoices.start_attempt(invoice, pending):
                return invoice  # another run started this very attempt a moment ago
        if card is None or customer is None:
            outcome = PaymentAttempt(
                number,
                started,
                AttemptOutcome.NO_CARD,
                decline_code="no_card",
                card_update=card_update,
            )
            return self._invoices.settle_attempt(invoice, outcome, now)
        payments = self._payments()
        result = payments.find_attempt(invoice.invoice_id, number, customer) if resuming else None
        if result is None:
            result = payments.charge(
                invoice.invoice_id,
                number,
                customer,
                card.payment_method_id,
                invoice.amount_due,  # the total less the account credit applied at issue
                f"CraftJack leads, invoice {invoice.invoice_id}",
            )
        attempt = replace(result.attempt(number, started, card), card_update=card_update)
        if attempt.outcome is AttemptOutcome.UNKNOWN:
            logger.warning("payment outcome unknown", extra={"invoice_id": invoice.invoice_id})
            return invoice
        return self._invoices.settle_attempt(invoice, attempt, now)

    def _paid_by_credit(self, invoice: Invoice, now: datetime) -> Invoice:
        """An invoice whose account credit covers its whole total is paid with no charge:
        an attempt that asks nothing of Stripe (no card, no PaymentIntent), recorded and
        settled at once; a run that finds it under way settles the same attempt."""
        last = invoice.attempts[-1] if invoice.attempts else None
        if last is not None and last.outcome is AttemptOutcome.UNKNOWN:
            number, started = last.number, last.at
        else:
            number, started = invoice.next_attempt_number, now
            self._invoices.start_attempt(
                invoice, PaymentAttempt(number, now, AttemptOutcome.UNKNOWN)
            )
        paid = PaymentAttempt(number, started, AttemptOutcome.SUCCEEDED)
        return self._invoices.settle_attempt(invoice, paid, now)

    def email(self, invoice: Invoice, account: Account, now: datetime) -> None:
        """R5: one email per invoice, once its collection has an outcome.

        Its PDF is kept before it is sent (R13: the contractor downloads it later), so
        every email sent has its PDF kept; a PDF that cannot be kept sends nothing and
        gives the claim back, as a failed send does. An email sent again (its claim taken
        over) carries the PDF kept the first time, even if rendering now gives another.

        Once SES took the email its claim is never given back: marking it sent is tried
        again for a while (``InvoiceStore.email_sent``) before the input fails. SES has no
        idempotency key, so a DynamoDB outage longer than that, right after the send,
        sends the email again when the input is delivered again (once the claim is stale).
        """
        if invoice.status is InvoiceStatus.OPEN:
            return
        if self._mailer is None or self._documents is None:
            raise RuntimeError("this collection sends no email")
        token = self._invoices.claim_email(invoice.invoice_id, now)
        if token is None:
            return
        try:
            rendered = render_invoice_email(invoice, account, sender=self._mailer.sender)
            kept = self._documents.store(invoice.invoice_id, rendered.pdf, rendered.pdf_filename)
            rendered = replace(rendered, pdf=kept.content, pdf_filename=kept.filename)
            self._mailer.send(account.billing_email, rendered)
        except Exception:
            self._invoices.release_email(invoice.invoice_id, token)
            raise
        self._invoices.email_sent(invoice.invoice_id, now)


def attempt_events(invoice: Invoice, attempt: PaymentAttempt) -> list[BillingEvent]:
    """The events that announced the outcome of ``attempt`` of ``invoice`` when it was
    settled (same event ids): the payment and the pause it lifted, or the failure."""
    if attempt.outcome is AttemptOutcome.SUCCEEDED and invoice.status is InvoiceStatus.PAID:
        return outcome_events(invoice)
    if attempt.outcome in (AttemptOutcome.DECLINED, AttemptOutcome.NO_CARD):
        return [PaymentFailed.of(invoice, attempt)]
    return []


def outcome_events(invoice: Invoice) -> list[BillingEvent]:
    if not invoice.attempts:
        return []
    last = invoice.attempts[-1]
    if last.outcome is AttemptOutcome.UNKNOWN:
        return []  # an attempt under way: its outcome is announced once known
    if invoice.status is InvoiceStatus.PAID:
        paid = next(a for a in invoice.attempts if a.outcome is AttemptOutcome.SUCCEEDED)
        events: list[BillingEvent] = [
            InvoicePaid(
                invoice.contractor_id,
                invoice.invoice_id,
                invoice.amount_due,
                paid.payment_intent_id,
            )
        ]
        if invoice.reactivated_at and invoice.reactivated_paused_since:
            events.append(
                AccountReactivated(
                    invoice.contractor_id,
                    PauseReason.NON_PAYMENT,
                    invoice.reactivated_at,
                    paused_since=invoice.reactivated_paused_since,
                )
            )
        return events
    if invoice.status is InvoiceStatus.PAST_DUE:
        return [PaymentFailed.of(invoice, last)]
    return []
