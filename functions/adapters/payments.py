"""Stripe behind the ``Payments`` port (R6, R11). The only module that imports ``stripe``.

Every Stripe exception is translated here: card declines become a ``DECLINED`` result,
lost answers an ``UNKNOWN`` one (for charges) or ``PaymentsUnavailable``, and anything
else ``PaymentsRejected``. Nothing above this module sees a Stripe type.

Retries are ours, not the SDK's (the client is built with ``max_network_retries=0``): a
request is repeated after a timeout, a connection failure, a 409, a 429 or a 5xx, with the
same parameters and the same ``Idempotency-Key``, so that Stripe replays the first outcome
instead of charging twice. A charge whose answer never comes is ``UNKNOWN`` and is resolved
later with ``find_attempt``; it is never retried under a new key.

Pacing: a function that calls Stripe from many environments at once gives each a
``pacing.RequestPacer``, so that together they stay within their share of Stripe's rate
limit (``infra/weekly_invoice.py``); every try of a request takes its turn.

The same code runs against localstripe in the local stack, which refuses any parameter it
does not know; that shapes the calls: PaymentIntents carry their description in the
metadata (localstripe refuses ``description``), SetupIntents name no payment method types,
and lookups go through the customer's charges because localstripe's PaymentIntent list
accepts no filter and it has no search API.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import stripe

from functions.adapters.pacing import RequestPacer, request_pacer
from functions.adapters.secrets import StripeSecrets, stripe_secrets
from functions.billing.invoices import AttemptOutcome, Card
from functions.billing.money import Money
from functions.billing.payments import (
    CardNotOwned,
    CardNotReady,
    ChargeResult,
    InvalidWebhook,
    PaymentsError,
    PaymentsRejected,
    PaymentsUnavailable,
    SetupCard,
    StaleCardSetup,
)
from functions.billing.reconciliation import ProcessorPayment

_T = TypeVar("_T")
Sleep = Callable[[float], None]

# (connect, read) seconds for one HTTP request. A confirmed PaymentIntent usually answers
# within a few seconds. With the retries and their delays, a call that keeps timing out
# gives up after about 55 s, inside a 60 s function timeout.
DEFAULT_TIMEOUT = (3.0, 10.0)
DEFAULT_RETRIES = 3
FIRST_DELAY = 0.5
MAX_DELAY = 4.0
AUTHENTICATION_REQUIRED = "authentication_required"
METADATA_VALUE_LIMIT = 500  # characters, Stripe's limit for one metadata value


def stripe_client(
    api_key: str,
    api_base: str | None = None,
    *,
    http_client: stripe.HTTPClient | None = None,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
) -> stripe.StripeClient:
    """A Stripe client that never retries by itself; ``api_base`` points it elsewhere than
    Stripe (localstripe in the local stack)."""
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=0,
        http_client=http_client or stripe.RequestsClient(timeout=timeout),
    )


def customer_key(contractor_id: str) -> str:
    return f"customer-{contractor_id}"


def attempt_key(invoice_id: str, attempt_number: int) -> str:
    """R2, R6: one key per invoice and attempt, so an attempt can never charge twice."""
    return f"invoice-{invoice_id}-attempt-{attempt_number}"


class StripePayments:
    """The ``functions.billing.payments.Payments`` port, over a ``stripe.StripeClient``."""

    def __init__(
        self,
        client: stripe.StripeClient,
        *,
        retries: int = DEFAULT_RETRIES,
        sleep: Sleep = time.sleep,
        pacer: RequestPacer | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError("retries cannot be negative")
        self._client = client
        self._stripe = client.v1
        self._retries = retries
        self._sleep = sleep
        self._pacer = pacer or RequestPacer(0)

    # Customers and cards (R11)

    def create_customer(self, contractor_id: str, business_name: str, email: str) -> str:
        """The Stripe customer of a contractor. Within Stripe's idempotency window (24 h)
        asking again returns the same customer."""
        customer = self._call(
            lambda: self._stripe.customers.create(
                params={
                    "name": business_name,
                    "email": email,
                    "metadata": {"contractor_id": contractor_id},
                },
                options={"idempotency_key": customer_key(contractor_id)},
            )
        )
        return customer.id

    def create_setup_intent(self, customer_id: str, number: int | None = None) -> tuple[str, str]:
        """A SetupIntent for off-session charges: its id and the client secret that the
        Pro App or the Lead Manager confirms with Stripe.js. ``number`` (R11: the order of
        the account's card setups) is kept in its metadata, which every later reading of
        the setup (a webhook, the app's confirm) finds.

        It names no payment method types: the SDK's API version refuses
        ``payment_method_types`` and localstripe refuses ``allowed_payment_method_types``.
        localstripe sets up cards only; Stripe offers the types enabled in the Dashboard,
        and ``confirmed_card`` accepts only a card.
        """
        key = _request_key()
        setup = self._call(
            lambda: self._stripe.setup_intents.create(
                params={
                    "customer": customer_id,
                    "usage": "off_session",
                    **({"metadata": {SETUP_NUMBER: str(number)}} if number is not None else {}),
                },
                options={"idempotency_key": key},
            )
        )
        if setup.client_secret is None:
            raise PaymentsRejected(None, f"setup {setup.id} came without a client secret")
        return setup.id, setup.client_secret

    def confirmed_card(self, setup_intent_id: str, customer_id: str) -> Card:
        """R11: the card a succeeded SetupIntent of ``customer_id`` saved, attached to the
        customer and made its default payment method (``confirmed_setup``)."""
        return self.confirmed_setup(setup_intent_id, customer_id).card

    def confirmed_setup(
        self, setup_intent_id: str, customer_id: str, *, newer_than: int | None = None
    ) -> SetupCard:
        """R11: the card a succeeded SetupIntent of ``customer_id`` saved, attached to the
        customer and made its default payment method, with the setup's number.

        Raises ``CardNotOwned`` when the SetupIntent does not exist or is another
        customer's, ``CardNotReady`` when it has not succeeded, and ``StaleCardSetup``,
        before changing anything, when the setup is older than ``newer_than`` (the number
        of the setup whose card is on file) or has no number while that card has one.
        """
        if not setup_intent_id.startswith("seti_"):
            raise CardNotOwned(setup_intent_id, customer_id)
        try:
            setup = self._with_retries(
                lambda: self._stripe.setup_intents.retrieve(
                    setup_intent_id, params={"expand": ["payment_method"]}
                )
            )
        except stripe.InvalidRequestError as error:
            if error.http_status == 404:
                raise CardNotOwned(setup_intent_id, customer_id) from error
            raise _domain_error(error) from error
        except stripe.StripeError as error:
            raise _domain_error(error) from error

        if _id(setup.customer) != customer_id:
            raise CardNotOwned(setup_intent_id, customer_id)
        if setup.status != "succeeded" or setup.payment_method is None:
            raise CardNotReady(setup_intent_id, setup.status)
        number = setup_number(setup.metadata.to_dict() if setup.metadata else {})
        if newer_than is not None and (number is None or number < newer_than):
            raise StaleCardSetup(setup_intent_id, number, newer_than)

        method = setup.payment_method
        if isinstance(method, str):
            method_id = method
            method = self._call(lambda: self._stripe.payment_methods.retrieve(method_id))
        card = method.card
        if method.type != "card" or card is None:
            raise PaymentsRejected(None, f"{method.id} is a {method.type}, not a card")

        owner = _id(method.customer)
        if owner is None:
            # Stripe attaches on confirmation; localstripe does not.
            attach_key = _request_key()
            self._call(
                lambda: self._stripe.payment_methods.attach(
                    method.id,
                    params={"customer": customer_id},
                    options={"idempotency_key": attach_key},
                )
            )
        elif owner != customer_id:
            raise CardNotOwned(setup_intent_id, customer_id)

        default_key = _request_key()
        self._call(
            lambda: self._stripe.customers.update(
                customer_id,
                params={"invoice_settings": {"default_payment_method": method.id}},
                options={"idempotency_key": default_key},
            )
        )
        return SetupCard(
            Card(
                payment_method_id=method.id,
                brand=card.brand,
                last4=card.last4,
                exp_month=card.exp_month,
                exp_year=card.exp_year,
            ),
            number,
        )

    # Charges (R6)

    def charge(
        self,
        invoice_id: str,
        attempt_number: int,
        customer_id: str,
        payment_method_id: str,
        amount: Money,
        description: str,
    ) -> ChargeResult:
        """R6: charge ``amount`` to the card off-session, as attempt ``attempt_number`` of
        the invoice. One PaymentIntent per attempt, whatever the retries.

        Should the same attempt be sent again (after a crash, say), every argument must be
        the same: Stripe replays the first answer for the attempt's key (for 24 h) and
        refuses the key with other parameters. An ``UNKNOWN`` attempt is resolved with
        ``find_attempt``.
        """
        if amount.cents <= 0:
            raise ValueError(f"a charge is positive, not {amount.cents} cents")
        if attempt_number < 1:
            raise ValueError(f"attempts are numbered from 1, not {attempt_number}")
        key = attempt_key(invoice_id, attempt_number)
        try:
            intent = self._with_retries(
                lambda: self._stripe.payment_intents.create(
                    params={
                        "amount": amount.cents,
                        "currency": amount.currency.lower(),
                        "customer": customer_id,
                        "payment_method": payment_method_id,
                        "off_session": True,
                        "confirm": True,
                        "metadata": {
                            "invoice_id": invoice_id,
                            "attempt": str(attempt_number),
                            "description": description[:METADATA_VALUE_LIMIT],
                        },
                    },
                    options={"idempotency_key": key},
                )
            )
        except stripe.CardError as error:
            return self._declined(error)
        except stripe.StripeError as error:
            if _unavailable(error):
                return ChargeResult(AttemptOutcome.UNKNOWN)
            raise _domain_error(error) from error
        return _result_of(intent)

    def find_attempt(
        self, invoice_id: str, attempt_number: int, customer_id: str
    ) -> ChargeResult | None:
        """The outcome of an attempt whose answer never came, read from Stripe without
        charging; None when no charge was made for it.

        Attempts are found through the customer's charges (with their PaymentIntents
        expanded), matched on the metadata ``charge`` wrote. A PaymentIntent that stopped
        before charging (authentication required) has no charge and is not found, which is
        safe: no money moved.
        """
        attempt = str(attempt_number)

        def matching() -> list[stripe.PaymentIntent]:
            charges = self._stripe.charges.list(
                params={"customer": customer_id, "limit": 100, "expand": ["data.payment_intent"]}
            )
            found: dict[str, stripe.PaymentIntent] = {}
            for item in charges.auto_paging_iter():
                intent = item.payment_intent
                if not isinstance(intent, stripe.PaymentIntent):
                    continue
                metadata = intent.metadata.to_dict()
                if metadata.get("invoice_id") == invoice_id and metadata.get("attempt") == attempt:
                    found[intent.id] = intent
            return list(found.values())

        intents = self._call(matching)
        if not intents:
            return None
        # With Stripe's idempotency there is one; should there be more, a success wins.
        intents.sort(key=lambda intent: (intent.status == "succeeded", intent.created))
        return _result_of(intents[-1])

    # Reconciliation (``billing.reconciliation``)

    def payments_between(self, start: datetime, end: datetime) -> list[ProcessorPayment]:
        """The PaymentIntents whose charges were made in ``[start, end)``, each once, read
        through the charges with their PaymentIntents expanded (localstripe lists no
        PaymentIntent by date). The list takes one bound on ``created`` (localstripe's
        limit): charges after ``start``, page after page; the end is applied here."""
        after = int(start.timestamp()) - 1  # created > after: at or after start, to the second
        until = end.timestamp()

        def listing() -> list[ProcessorPayment]:
            charges = self._stripe.charges.list(
                params={
                    "created": {"gt": after},
                    "limit": 100,
                    "expand": ["data.payment_intent"],
                }
            )
            found: dict[str, ProcessorPayment] = {}
            for item in charges.auto_paging_iter():
                intent = item.payment_intent
                if item.created >= until or not isinstance(intent, stripe.PaymentIntent):
                    continue  # a later charge, or one made without a PaymentIntent
                found[intent.id] = _processor_payment(intent)
            return list(found.values())

        return self._call(listing)

    def payment_intent(self, payment_intent_id: str) -> ProcessorPayment | None:
        """A PaymentIntent, whenever it was made; None when Stripe has none by that id."""
        try:
            intent = self._with_retries(
                lambda: self._stripe.payment_intents.retrieve(payment_intent_id)
            )
        except stripe.InvalidRequestError as error:
            if error.http_status == 404:
                return None
            raise _domain_error(error) from error
        except stripe.StripeError as error:
            raise _domain_error(error) from error
        return _processor_payment(intent)

    # Webhooks

    def verify_webhook(
        self, payload: bytes, signature_header: str | None, secret: str, tolerance: int = 300
    ) -> dict[str, Any]:
        """The event a Stripe webhook carries, once its ``Stripe-Signature`` is proven to
        be from Stripe, over this very body, signed less than ``tolerance`` seconds ago."""
        if tolerance <= 0:
            raise ValueError("a webhook's age must be bounded")  # 0 turns Stripe's check off
        try:
            event = self._client.construct_event(payload, signature_header, secret, tolerance)
        except stripe.SignatureVerificationError as error:
            raise InvalidWebhook(error.user_message or "invalid signature") from error
        except ValueError as error:  # a body that is not UTF-8 JSON
            raise InvalidWebhook("the body is not a JSON event") from error
        return event.to_dict(for_json=True)

    # Translation and retries

    def _declined(self, error: stripe.CardError) -> ChargeResult:
        details = error.error
        code = (details.decline_code if details else None) or error.code or "card_declined"
        intent = details.payment_intent if details else None
        intent_id = intent.id if intent is not None else None
        if intent_id is None and details is not None and details.charge:
            intent_id = self._intent_of_charge(details.charge)
        return ChargeResult(AttemptOutcome.DECLINED, intent_id, code)

    def _intent_of_charge(self, charge_id: str) -> str | None:
        """The PaymentIntent of a declined charge, for errors that name only the charge
        (localstripe's). The decline is certain either way, so a failure here is ignored."""
        try:
            return _id(self._stripe.charges.retrieve(charge_id).payment_intent)
        except stripe.StripeError:
            return None

    def _call(self, request: Callable[[], _T]) -> _T:
        try:
            return self._with_retries(request)
        except stripe.StripeError as error:
            raise _domain_error(error) from error

    def _with_retries(self, request: Callable[[], _T]) -> _T:
        """``request``, repeated unchanged (same idempotency key) after transient failures;
        the last failure propagates."""
        retry = 0
        while True:
            try:
                with self._pacer.turn():
                    return request()
            except stripe.StripeError as error:
                if retry >= self._retries or not _retryable(error):
                    raise
                self._sleep(min(FIRST_DELAY * 2**retry, MAX_DELAY))
                retry += 1


@functools.lru_cache(maxsize=4)
def stripe_payments(secrets: StripeSecrets, request_interval: float = 0.0) -> StripePayments:
    """The payments adapter for these credentials, reused while they stay the same, so a
    rotated key takes effect without a cold start; paced at one request per
    ``request_interval`` seconds (``RequestPacer``), across every key."""
    return StripePayments(
        stripe_client(secrets.api_key, secrets.api_base), pacer=request_pacer(request_interval)
    )


def payments_from_secret(
    secret_name: str, request_interval: float = 0.0
) -> Callable[[], StripePayments]:
    """A provider of the payments adapter with the keys the secret holds when it is called
    (read through Powertools' cache)."""
    return lambda: stripe_payments(stripe_secrets(secret_name), request_interval)


def _request_key() -> str:
    """A key for one logical request: its retries share it, another request does not."""
    return str(uuid.uuid4())


SETUP_NUMBER = "card_setup"  # the metadata key of a SetupIntent's number (R11)


def setup_number(metadata: Any) -> int | None:
    """The number a SetupIntent's metadata carries; None when it carries none."""
    value = metadata.get(SETUP_NUMBER) if hasattr(metadata, "get") else None
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _id(value: Any) -> str | None:
    """The id of an expandable field, expanded or not."""
    if value is None or isinstance(value, str):
        return value
    return str(value.id)


def _processor_payment(intent: stripe.PaymentIntent) -> ProcessorPayment:
    """A PaymentIntent with what ``charge`` wrote into its metadata (none: not the
    billing's)."""
    metadata = intent.metadata.to_dict() if intent.metadata else {}
    attempt = str(metadata.get("attempt", ""))
    return ProcessorPayment(
        payment_intent_id=intent.id,
        invoice_id=metadata.get("invoice_id") or None,
        attempt=int(attempt) if attempt.isdigit() else None,
        amount=Money(int(intent.amount), str(intent.currency).upper()),
        succeeded=intent.status == "succeeded",
        created_at=datetime.fromtimestamp(int(intent.created), UTC),
    )


def _result_of(intent: stripe.PaymentIntent) -> ChargeResult:
    if intent.status == "succeeded":
        return ChargeResult(AttemptOutcome.SUCCEEDED, intent.id)
    if intent.status == "requires_action":
        # Off-session, nobody is there to authenticate: the bank refused the charge.
        return ChargeResult(AttemptOutcome.DECLINED, intent.id, AUTHENTICATION_REQUIRED)
    if intent.status in ("requires_payment_method", "canceled"):
        failure = intent.last_payment_error
        code = None
        if failure is not None:
            code = getattr(failure, "decline_code", None) or getattr(failure, "code", None)
        return ChargeResult(AttemptOutcome.DECLINED, intent.id, code or intent.status)
    # processing, requires_confirmation, requires_capture: not settled yet
    return ChargeResult(AttemptOutcome.UNKNOWN, intent.id)


def _unavailable(error: stripe.StripeError) -> bool:
    """Stripe's answer was lost, or Stripe could not serve the request at that moment."""
    if isinstance(error, (stripe.APIConnectionError, stripe.RateLimitError)):
        return True
    if isinstance(error, stripe.APIError):
        status = error.http_status
        return status is None or status >= 500 or status == 409 or status < 400
    return False


def _retryable(error: stripe.StripeError) -> bool:
    """Whether repeating the request may help; Stripe's own advice comes first."""
    headers = {name.lower(): value for name, value in (error.headers or {}).items()}
    advice = headers.get("stripe-should-retry")
    if advice in ("true", "false"):
        return advice == "true"
    if isinstance(error, stripe.APIConnectionError):
        return error.should_retry
    return _unavailable(error)


def _domain_error(error: stripe.StripeError) -> PaymentsError:
    if _unavailable(error):
        return PaymentsUnavailable(str(error))
    return PaymentsRejected(error.code, error.user_message or type(error).__name__)
