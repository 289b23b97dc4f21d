"""R6, R11: the payment processor as the billing sees it, and how it can fail.

The billing never talks to Stripe: it asks a ``Payments`` port for customers, saved cards
and charges, and gets domain values and domain errors back. The adapter
(``functions.adapters.payments``) is the only code that knows Stripe.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from functions.billing.errors import BillingError
from functions.billing.invoices import AttemptOutcome, Card, PaymentAttempt
from functions.billing.money import Money


class PaymentsError(BillingError):
    pass


class PaymentsUnavailable(PaymentsError):
    """The processor could not be reached, or kept failing, through every retry.

    Nothing is known to have happened; the operation may be repeated later.
    """


class PaymentsRejected(PaymentsError):
    """The processor refused the request as it was made (configuration, an unknown
    customer, a reused idempotency key with other parameters...): repeating it unchanged
    cannot succeed."""

    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(f"{code or 'rejected'}: {message}")
        self.code = code


class CardNotOwned(PaymentsError):
    """R11: the card setup named by the contractor's app is not theirs (or does not exist)."""

    def __init__(self, setup_intent_id: str, customer_id: str) -> None:
        super().__init__(f"setup {setup_intent_id!r} does not belong to customer {customer_id!r}")
        self.setup_intent_id = setup_intent_id
        self.customer_id = customer_id


class CardNotReady(PaymentsError):
    """R11: the card setup has not succeeded (yet): there is no card to save."""

    def __init__(self, setup_intent_id: str, status: str) -> None:
        super().__init__(f"setup {setup_intent_id!r} is {status}, not succeeded")
        self.setup_intent_id = setup_intent_id
        self.status = status


class StaleCardSetup(PaymentsError):
    """R11: the card setup was started before the one whose card is on file (Stripe
    reports setups in no particular order): the card saved since stays, nothing changes."""

    def __init__(self, setup_intent_id: str, number: int | None, on_file: int) -> None:
        super().__init__(
            f"setup {setup_intent_id!r} (number {number}) is older than setup {on_file} on file"
        )
        self.setup_intent_id = setup_intent_id
        self.number = number
        self.on_file = on_file


@dataclass(frozen=True, slots=True)
class SetupCard:
    """R11: the card a succeeded setup saved, and the setup's number: the account's setups
    are numbered in the order the billing started them (None: a setup it did not number)."""

    card: Card
    number: int | None


class CardNotOnFile(PaymentsError):
    """R11: Stripe's card updater renewed a card that is not the account's card on file."""

    def __init__(self, contractor_id: str, payment_method_id: str) -> None:
        super().__init__(f"{payment_method_id} is not the card on file of {contractor_id}")
        self.contractor_id = contractor_id
        self.payment_method_id = payment_method_id


class NoCardOnFile(PaymentsError):
    """R11: the contractor asked to pay what is past due, and there is no card to charge."""

    def __init__(self, contractor_id: str) -> None:
        super().__init__(f"account {contractor_id} has no card on file")
        self.contractor_id = contractor_id


class InvalidWebhook(PaymentsError):
    """A webhook whose signature is missing, wrong or too old: it is not from Stripe."""


@dataclass(frozen=True, slots=True)
class ChargeResult:
    """What the processor answered to one payment attempt (R6).

    ``UNKNOWN`` means no answer came: the attempt is resolved later from the processor's
    records (``Payments.find_attempt``), never by charging again.
    """

    outcome: AttemptOutcome
    payment_intent_id: str | None = None
    decline_code: str | None = None

    def attempt(self, number: int, at: datetime, card: Card | None) -> PaymentAttempt:
        return PaymentAttempt(
            number=number,
            at=at,
            outcome=self.outcome,
            payment_intent_id=self.payment_intent_id,
            decline_code=self.decline_code,
            card=card,
        )


class Payments(Protocol):
    """The port to the payment processor. Every method raises ``PaymentsUnavailable`` when
    the processor cannot be reached and ``PaymentsRejected`` when it refuses the request."""

    def create_customer(self, contractor_id: str, business_name: str, email: str) -> str:
        """The processor's customer id for a contractor; the same one however often asked."""
        ...

    def create_setup_intent(self, customer_id: str, number: int | None = None) -> tuple[str, str]:
        """A card setup for off-session charges, carrying its ``number`` (R11: the order of
        the account's setups): its id and the client secret the app uses."""
        ...

    def confirmed_card(self, setup_intent_id: str, customer_id: str) -> Card:
        """R11: the card a succeeded setup saved, made the customer's default."""
        ...

    def confirmed_setup(
        self, setup_intent_id: str, customer_id: str, *, newer_than: int | None = None
    ) -> SetupCard:
        """R11: the card a succeeded setup saved and the setup's number, the card made the
        customer's default. ``StaleCardSetup`` (and nothing changed) when ``newer_than``,
        the number of the setup whose card is on file, is greater than the setup's, or the
        setup has no number."""
        ...

    def charge(
        self,
        invoice_id: str,
        attempt_number: int,
        customer_id: str,
        payment_method_id: str,
        amount: Money,
        description: str,
    ) -> ChargeResult:
        """R6: charge the card off-session, at most once per invoice and attempt number."""
        ...

    def find_attempt(
        self, invoice_id: str, attempt_number: int, customer_id: str
    ) -> ChargeResult | None:
        """The outcome of an attempt whose answer never came; None if it never reached the
        processor."""
        ...

    def verify_webhook(
        self, payload: bytes, signature_header: str | None, secret: str, tolerance: int = 300
    ) -> dict[str, Any]:
        """The event a webhook carries, once its signature is proven; else ``InvalidWebhook``."""
        ...
