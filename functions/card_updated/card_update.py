"""R6, R11: the contractor saves a card through a Stripe SetupIntent, Stripe's card updater
renews an expired one, and everything past due is charged to it at once; Stripe reports the
outcome of payments through webhooks.

Card numbers never reach the billing: the Pro App or the Lead Manager confirms the
SetupIntent with Stripe.js, and the billing only asks Stripe which card that setup saved.

Collecting what is past due makes one PaymentIntent per past-due invoice, never one for the
sum: each invoice keeps its own numbered attempts, idempotency keys and settlement
(``Collection``), so a partial failure leaves exactly the invoices that failed past due, and
each PaymentIntent's amount is its invoice's total, which keeps reconciliation per invoice.
Paying the last past-due invoice ends the grace period and lifts a non-payment pause in the
same transaction (``InvoiceStore.settle_attempt``); a budget pause stays (R12).

A card update is an attempt of its own on each past-due invoice, whatever retries came
before it, and the attempt records the update (the SetupIntent id, or the id of Stripe's
card updater event): the same update arriving again (a retried confirm, the webhook for the
setup the app confirmed) finds its attempt made and charges nothing more.

Everything here may arrive more than once (a retried request, a webhook redelivered): a
card update is saved once, keyed by its id, and a payment attempt is settled once, keyed by
its invoice and attempt number; a repeat changes nothing.

And in any order: Stripe does not deliver webhooks in order, and an app's confirm may come
late. The card on file is the card of the setup started last (setups are numbered as they
start, ``CardStore``): a setup older than the card on file changes nothing, in Stripe or
here, and charges nothing; the app's confirm of it answers the card on file.
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
from functions.billing.events import InvoiceIssued
from functions.billing.invoices import (
    AttemptOutcome,
    Card,
    Invoice,
    InvoiceStatus,
    PaymentAttempt,
)
from functions.billing.money import Money
from functions.billing.payments import (
    CardNotOnFile,
    CardNotOwned,
    CardNotReady,
    NoCardOnFile,
    Payments,
    StaleCardSetup,
)
from functions.usecases.collection import Collection

logger = Logger(child=True)


@dataclass(frozen=True, slots=True)
class Collected:
    """R11: what one collection of everything past due paid, and the account afterwards."""

    collected: Money
    account: Account


@dataclass(frozen=True, slots=True)
class CardSaved:
    card: Card
    collected: Money  # R11: what was past due and is now paid with the card
    account: Account


class CardUpdate:
    """R11: the card flow of the Pro App and the Lead Manager, Stripe's card updates, and
    paying what is past due with the card on file."""

    def __init__(
        self,
        accounts: AccountStore,
        cards: CardStore,
        invoices: InvoiceStore,
        payments: Callable[[], Payments],
        collection: Collection,
    ) -> None:
        self._accounts = accounts
        self._cards = cards
        self._invoices = invoices
        self._payments = payments
        self._collection = collection

    def setup_intent(self, contractor_id: str) -> tuple[str, str]:
        """A SetupIntent for off-session charges to the contractor's Stripe customer (created
        once, on the first card setup): its id and the client secret the app confirms."""
        account = self._accounts.get(contractor_id)
        customer = self._customer(account)
        number = self._cards.start_setup(contractor_id)
        return self._payments().create_setup_intent(customer, number)

    def confirm(self, contractor_id: str, setup_intent_id: str, now: datetime) -> CardSaved:
        """Save the card that the contractor's succeeded SetupIntent set up, as the card on
        file, and charge everything past due to it. A SetupIntent of anyone else is
        ``CardNotOwned``, whether it exists or not."""
        account = self._accounts.get(contractor_id)
        customer = account.stripe_customer_id
        if customer is None:
            raise CardNotOwned(setup_intent_id, "(none)")  # no customer: no setup is theirs
        try:
            setup = self._payments().confirmed_setup(
                setup_intent_id, customer, newer_than=self._cards.setup_on_file(contractor_id)
            )
            card = setup.card
            saved = self._cards.save_setup_card(
                contractor_id, setup_intent_id, card, setup.number, now
            )
        except StaleCardSetup as stale:
            # A later setup's card is on file: it stays, and nothing is charged (R11).
            logger.info(
                "card setup older than the card on file",
                extra={
                    "contractor_id": contractor_id,
                    "setup_intent_id": setup_intent_id,
                    "number": stale.number,
                    "on_file": stale.on_file,
                },
            )
            account = self._accounts.get(contractor_id)
            if account.card is None:  # a later setup is on file: never so
                raise
            return CardSaved(account.card, Money(0), account)
        if saved:
            logger.info("card saved", extra={"contractor_id": contractor_id, "brand": card.brand})
        else:
            logger.info("card setup saved before", extra={"contractor_id": contractor_id})
        paid = self.collect_past_due(contractor_id, now, card_update=setup_intent_id, card=card)
        return CardSaved(card, paid.collected, paid.account)

    def setup_succeeded(
        self, customer_id: str, setup_intent_id: str, now: datetime
    ) -> CardSaved | None:
        """R11: Stripe reports a succeeded SetupIntent: the same as the app's confirm, for
        the account of the SetupIntent's customer; None when no account has that customer."""
        contractor_id = self._cards.account_of_customer(customer_id)
        if contractor_id is None:
            logger.warning("card setup of no account", extra={"setup_intent_id": setup_intent_id})
            return None
        return self.confirm(contractor_id, setup_intent_id, now)

    def card_renewed(
        self, update_id: str, customer_id: str, card: Card, now: datetime
    ) -> CardSaved | None:
        """R11: Stripe's card updater renewed a card (new expiry, maybe new number): when it
        is the card on file, its details replace the stored ones and everything past due is
        charged to it. ``update_id`` is the id of Stripe's event. None when it concerns no
        account's card on file."""
        contractor_id = self._cards.account_of_customer(customer_id)
        if contractor_id is None:
            logger.warning("card update of no account", extra={"update_id": update_id})
            return None
        try:
            self._cards.save_card(
                contractor_id, update_id, card, now, replacing=card.payment_method_id
            )
        except CardNotOnFile:
            logger.info(
                "renewed card is not the card on file",
                extra={"contractor_id": contractor_id, "update_id": update_id},
            )
            return None
        paid = self.collect_past_due(contractor_id, now, card_update=update_id, card=card)
        return CardSaved(card, paid.collected, paid.account)

    def pay(self, contractor_id: str, now: datetime) -> Collected:
        """R11: the contractor asks to pay everything past due with the card on file: one
        new attempt per past-due invoice (an attempt under way is left to its run)."""
        account = self._accounts.get(contractor_id)
        if account.card is None or account.stripe_customer_id is None:
            raise NoCardOnFile(contractor_id)
        return self.collect_past_due(contractor_id, now)

    def collect_past_due(
        self,
        contractor_id: str,
        now: datetime,
        *,
        card_update: str | None = None,
        card: Card | None = None,
    ) -> Collected:
        """R11: charge every past-due invoice to the card on file, one PaymentIntent per
        invoice, and announce each outcome; what was paid now, and the account afterwards.

        ``card_update``: the attempts are that update's, one per invoice however often it
        arrives. ``card``: the card the update saved; when another card is on file by now
        (a later update), nothing is charged for this one.
        """
        account = self._accounts.get(contractor_id)
        on_file = account.card
        if card is not None and (
            on_file is None or on_file.payment_method_id != card.payment_method_id
        ):
            logger.info("another card is on file", extra={"contractor_id": contractor_id})
            return Collected(Money(0), account)
        collected = Money(0)
        for invoice in self._invoices.past_due(contractor_id, or_attempted_with=card_update):
            made = _attempt_of(invoice, card_update)
            if made is not None:
                # The same update again (a retried confirm, the webhook of the setup the app
                # confirmed, a webhook redelivered): nothing more is charged, and what its
                # attempt did is announced again, under the same event ids, in case the
                # first delivery could not announce it.
                if made.outcome is not AttemptOutcome.UNKNOWN:
                    self._collection.announce(invoice, account, now, attempt=made)
                continue
            if card_update is None:
                after = self._collection.retry(invoice, account, now)
            else:
                after = self._collection.retry_with_card_update(invoice, account, now, card_update)
            if _unchanged(invoice, after):
                continue
            if after.status is InvoiceStatus.PAID:
                collected += after.amount_due
            self._collection.announce(after, account, now)
        if collected:
            logger.info(
                "past due collected",
                extra={"contractor_id": contractor_id, "collected_cents": collected.cents},
            )
        return Collected(collected, self._accounts.get(contractor_id))

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


def _attempt_of(invoice: Invoice, card_update: str | None) -> PaymentAttempt | None:
    """The attempt ``card_update`` made on ``invoice``, if it made one."""
    if card_update is None:
        return None
    return next((a for a in invoice.attempts if a.card_update == card_update), None)


def _unchanged(before: Invoice, after: Invoice) -> bool:
    return after.attempts == before.attempts and after.status is before.status


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


SETUP_SUCCEEDED = "setup_intent.succeeded"
CARD_AUTOMATICALLY_UPDATED = "payment_method.automatically_updated"


def _object(event: Mapping[str, Any]) -> Mapping[str, Any]:
    data = event.get("data")
    found = data.get("object") if isinstance(data, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def _text(value: Any) -> str | None:
    """A Stripe id, whether the field holds it or the expanded object."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def renewed_card(method: Mapping[str, Any]) -> Card | None:
    """The card a ``payment_method.automatically_updated`` event describes; None when the
    payment method is not a card or the event lacks its details."""
    details = method.get("card")
    method_id = _text(method.get("id"))
    if method.get("type") != "card" or not isinstance(details, Mapping) or method_id is None:
        return None
    brand, last4 = details.get("brand"), details.get("last4")
    month, year = details.get("exp_month"), details.get("exp_year")
    if not isinstance(brand, str) or not isinstance(last4, str):
        return None
    if not isinstance(month, int) or not isinstance(year, int):
        return None
    return Card(method_id, brand, last4, month, year)


class PaymentWebhooks:
    """R6: Stripe's answer to an attempt whose answer never reached the billing (it stayed
    ``UNKNOWN``) settles that attempt: paid, or past due. R11: a succeeded SetupIntent and a
    card renewed by Stripe's card updater run the card update."""

    def __init__(
        self,
        invoices: InvoiceStore,
        accounts: AccountStore,
        collection: Collection,
        card_update: CardUpdate,
    ) -> None:
        self._invoices = invoices
        self._accounts = accounts
        self._collection = collection
        self._card_update = card_update

    def handle(self, event: Mapping[str, Any], now: datetime) -> Invoice | None:
        """Act on a verified event: a card event runs the card update (R11); a payment
        event settles the attempt it reports on and answers the invoice. None when the
        event concerns no attempt of the billing (it is ignored).

        An attempt settled already stays as it was: a redelivered event, or a failure
        notice arriving after the invoice was paid, changes nothing. The email is sent at
        most once per invoice, and the outcome is announced again with the same event ids.
        """
        kind = event.get("type")
        if kind in (SETUP_SUCCEEDED, CARD_AUTOMATICALLY_UPDATED):
            self._card_event(event, now)
            return None
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
            card_update=under_way.card_update,
        )
        invoice = self._invoices.settle_attempt(invoice, attempt, now)
        account = self._accounts.get(invoice.contractor_id)
        # The first attempt's outcome is what the issue is announced with (R5). A run
        # that never learned it may not announce it: a threshold trigger's record
        # succeeds whatever the outcome, so the issue is announced here too; a repeat
        # carries the same event id.
        also = [InvoiceIssued.of(invoice)] if notice.attempt == 1 else []
        self._collection.announce(invoice, account, now, also=also)
        logger.info(
            "webhook settled",
            extra={
                "stripe_event": notice.event_id,
                "invoice_id": invoice.invoice_id,
                "status": invoice.status.value,
            },
        )
        return invoice

    def _card_event(self, event: Mapping[str, Any], now: datetime) -> None:
        found = _object(event)
        customer = _text(found.get("customer"))
        event_id = _text(event.get("id"))
        saved: CardSaved | None = None
        if event.get("type") == SETUP_SUCCEEDED:
            setup_intent_id = _text(found.get("id"))
            if customer is not None and setup_intent_id is not None:
                try:
                    saved = self._card_update.setup_succeeded(customer, setup_intent_id, now)
                except (CardNotOwned, CardNotReady):
                    # Acknowledged: Stripe's retries would not change what Stripe says.
                    logger.warning(
                        "card setup webhook refused", extra={"setup_intent_id": setup_intent_id}
                    )
        else:
            card = renewed_card(found)
            if customer is not None and card is not None and event_id is not None:
                saved = self._card_update.card_renewed(event_id, customer, card, now)
        logger.info(
            "card webhook",
            extra={
                "stripe_event": event_id,
                "type": event.get("type"),
                "collected_cents": None if saved is None else saved.collected.cents,
            },
        )
