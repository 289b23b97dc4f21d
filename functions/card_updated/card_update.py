"""R6, R11: the contractor saves a card through a Stripe SetupIntent; Stripe reports the
outcome of payments through webhooks.

Card numbers never reach the billing: the Pro App or the Lead Manager confirms the
SetupIntent with Stripe.js, and the billing only asks Stripe which card that setup saved.

Everything here may arrive more than once (a retried request, a webhook redelivered): a
card setup is saved once, keyed by its id, and a payment attempt is settled once, keyed by
its invoice and attempt number; a repeat changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger

from functions.adapters.accounts import AccountStore
from functions.adapters.cards import CardStore
from functions.adapters.invoicing import InvoiceStore
from functions.billing.account import Account
from functions.billing.invoices import AttemptOutcome, Card, Invoice, PaymentAttempt
from functions.billing.money import Money
from functions.billing.payments import CardNotOwned, Payments
from functions.usecases.collection import Collection

logger = Logger(child=True)


@dataclass(frozen=True, slots=True)
class CardSaved:
    card: Card
    collected: Money  # R11: what was past due and is now paid with the card


class CardUpdate:
    """R11: the card flow of the Pro App and the Lead Manager."""

    def __init__(
        self, accounts: AccountStore, cards: CardStore, payments: Callable[[], Payments]
    ) -> None:
        self._accounts = accounts
        self._cards = cards
        self._payments = payments

    def setup_intent(self, contractor_id: str) -> tuple[str, str]:
        """A SetupIntent for off-session charges to the contractor's Stripe customer (created
        once, on the first card setup): its id and the client secret the app confirms."""
        account = self._accounts.get(contractor_id)
        return self._payments().create_setup_intent(self._customer(account))

    def confirm(self, contractor_id: str, setup_intent_id: str, now: datetime) -> CardSaved:
        """Save the card that the contractor's succeeded SetupIntent set up, as the card on
        file. A SetupIntent of anyone else is ``CardNotOwned``, whether it exists or not."""
        account = self._accounts.get(contractor_id)
        customer = account.stripe_customer_id
        if customer is None:
            raise CardNotOwned(setup_intent_id, "(none)")  # no customer: no setup is theirs
        card = self._payments().confirmed_card(setup_intent_id, customer)
        if self._cards.save_card(contractor_id, setup_intent_id, card, now):
            logger.info("card saved", extra={"contractor_id": contractor_id, "brand": card.brand})
        else:
            logger.info("card setup saved before", extra={"contractor_id": contractor_id})
        return CardSaved(card, self.collect_past_due(contractor_id, card, now))

    def collect_past_due(self, contractor_id: str, card: Card, now: datetime) -> Money:
        """R11: charge everything past due to the card just saved; what was collected.

        This is where a saved card ends the grace period and lifts a non-payment pause.
        For now it charges nothing, and past-due invoices stay past due.
        """
        return Money(0)

    def _customer(self, account: Account) -> str:
        if account.stripe_customer_id is not None:
            return account.stripe_customer_id
        created = self._payments().create_customer(
            account.contractor_id, account.business_name, account.billing_email
        )
        kept = self._cards.keep_customer(account.contractor_id, created)
        if kept != created:
            logger.warning(
                "another customer was stored first",
                extra={"contractor_id": account.contractor_id, "unused_customer": created},
            )
        return kept


# ---------------------------------------------------------------------- webhooks

PAYMENT_EVENTS = {
    "payment_intent.succeeded": AttemptOutcome.SUCCEEDED,
    "payment_intent.payment_failed": AttemptOutcome.DECLINED,
}


@dataclass(frozen=True, slots=True)
class PaymentNotice:
    """What a Stripe event says about one payment attempt of one invoice."""

    event_id: str
    invoice_id: str
    attempt: int
    outcome: AttemptOutcome
    payment_intent_id: str | None
    decline_code: str | None


def payment_notice(event: Mapping[str, Any]) -> PaymentNotice | None:
    """The attempt a verified Stripe event reports on; None for an event about anything
    else (another type, or a PaymentIntent that no invoice attempt created)."""
    outcome = PAYMENT_EVENTS.get(str(event.get("type")))
    data = event.get("data")
    intent = data.get("object") if isinstance(data, Mapping) else None
    if outcome is None or not isinstance(intent, Mapping):
        return None
    metadata = intent.get("metadata")
    if not isinstance(metadata, Mapping):
        return None
    invoice_id, attempt = metadata.get("invoice_id"), metadata.get("attempt")
    if not isinstance(invoice_id, str) or not invoice_id:
        return None
    if not isinstance(attempt, str) or not attempt.isdigit() or int(attempt) < 1:
        return None
    decline_code = None
    if outcome is AttemptOutcome.DECLINED:
        failure = intent.get("last_payment_error")
        if isinstance(failure, Mapping):
            decline_code = failure.get("decline_code") or failure.get("code")
        decline_code = str(decline_code or intent.get("status") or "payment_failed")
    intent_id = intent.get("id")
    return PaymentNotice(
        event_id=str(event.get("id")),
        invoice_id=invoice_id,
        attempt=int(attempt),
        outcome=outcome,
        payment_intent_id=intent_id if isinstance(intent_id, str) else None,
        decline_code=decline_code,
    )


class PaymentWebhooks:
    """R6: Stripe's answer to an attempt whose answer never reached the billing (it stayed
    ``UNKNOWN``) settles that attempt: paid, or past due."""

    def __init__(
        self,
        invoices: InvoiceStore,
        accounts: AccountStore,
        collection: Collection,
    ) -> None:
        self._invoices = invoices
        self._accounts = accounts
        self._collection = collection

    def handle(self, event: Mapping[str, Any], now: datetime) -> Invoice | None:
        """Settle the attempt a verified event reports on; the invoice, or None when the
        event concerns no attempt of the billing (it is ignored).

        An attempt settled already stays as it was: a redelivered event, or a failure
        notice arriving after the invoice was paid, changes nothing. The email is sent at
        most once per invoice, and the outcome is announced again with the same event ids.
        """
        notice = payment_notice(event)
        if notice is None:
            logger.info(
                "webhook ignored",
                extra={"stripe_event": event.get("id"), "type": event.get("type")},
            )
            return None
        invoice = self._invoices.get(notice.invoice_id)
        if invoice is None or notice.attempt > len(invoice.attempts):
            logger.warning(
                "webhook for no known attempt",
                extra={
                    "stripe_event": notice.event_id,
                    "invoice_id": notice.invoice_id,
                    "attempt": notice.attempt,
                },
            )
            return None
        under_way = invoice.attempts[notice.attempt - 1]
        attempt = PaymentAttempt(
            number=notice.attempt,
            at=under_way.at,
            outcome=notice.outcome,
            payment_intent_id=notice.payment_intent_id,
            decline_code=notice.decline_code,
            card=under_way.card,
        )
        invoice = self._invoices.settle_attempt(invoice, attempt, now)
        account = self._accounts.get(invoice.contractor_id)
        self._collection.announce(invoice, account, now)
        logger.info(
            "webhook settled",
            extra={
                "stripe_event": notice.event_id,
                "invoice_id": invoice.invoice_id,
                "status": invoice.status.value,
            },
        )
        return invoice
