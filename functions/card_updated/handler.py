"""card_updated: the card flow of the Pro App and the Lead Manager, and Stripe's webhooks
(R6, R11).

- ``POST /me/card/setup-intent``, ``POST /me/card/confirm`` and ``POST /me/pay`` sit
  behind the Cognito user pool authorizer: the contractor is the one the verified token names
  (``functions.adapters.identity``), never one named by the request.
- ``POST /webhooks/stripe`` has no authorizer: its ``Stripe-Signature`` proves the body.

The route signatures are read at run time by the resolver's validation, so this module
keeps its annotations evaluated (no ``from __future__ import annotations``). Errors map to
status codes in one place: the exception handlers at the end of this module.
"""

import base64
import binascii
from http import HTTPStatus
from typing import Annotated, Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Body, Header
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from functions.adapters import clock
from functions.adapters.accounts import AccountStore
from functions.adapters.cards import CardStore
from functions.adapters.documents import InvoiceDocuments
from functions.adapters.event_bus import billing_bus
from functions.adapters.http_errors import add_common_error_handlers, error_response
from functions.adapters.identity import NotAuthenticated, contractor_id
from functions.adapters.invoicing import InvoiceStore
from functions.adapters.mailer import SesMailer
from functions.adapters.models import bind_tables
from functions.adapters.payments import payments_from_secret
from functions.adapters.secrets import StripeSecrets, stripe_secrets
from functions.adapters.settings import CardUpdatedSettings
from functions.billing.errors import AccountNotFound, StorageUnavailable
from functions.billing.payments import (
    CardNotOwned,
    CardNotReady,
    InvalidWebhook,
    NoCardOnFile,
    PaymentsRejected,
    PaymentsUnavailable,
)
from functions.card_updated.card_update import CardUpdate, PaymentWebhooks
from functions.usecases.answers import (
    CardConfirmed,
    PastDuePaid,
    SavedCard,
    SetupIntentCreated,
    WebhookReceived,
)
from functions.usecases.billing_view import contractor_billing
from functions.usecases.collection import Collection, EventsNotPublished

# Stripe signs webhooks with a timestamp; older ones are refused as replays.
WEBHOOK_TOLERANCE_SECONDS = 300

settings = CardUpdatedSettings.from_env()
bind_tables(settings.table_names())
logger = Logger()
tracer = Tracer()
app = APIGatewayRestResolver(
    enable_validation=True, response_validation_error_http_code=HTTPStatus.INTERNAL_SERVER_ERROR
)


def secrets() -> StripeSecrets:
    """Stripe's keys as the secret holds them now (cached by Powertools)."""
    return stripe_secrets(settings.stripe_secret_name)


payments = payments_from_secret(settings.stripe_secret_name)
accounts = AccountStore()
invoices = InvoiceStore()
collection = Collection(
    invoices,
    payments,
    SesMailer(boto3.client("sesv2"), settings.email_sender, settings.email_configuration_set),
    billing_bus(settings.event_bus_name, settings.unpublished_events_queue_url),
    InvoiceDocuments(boto3.client("s3"), settings.documents_bucket),
)
card_update = CardUpdate(accounts, CardStore(accounts), invoices, payments, collection)
webhooks = PaymentWebhooks(invoices, accounts, collection, card_update)


# Missing or wrong, the signature is refused by the verification: 400 invalid_signature.
StripeSignature = Annotated[
    str | None,
    Header(
        alias="Stripe-Signature",
        max_length=2048,
        description="Stripe's signature of the body: `t=<timestamp>,v1=<HMAC-SHA256>`",
    ),
]


class NoFields(BaseModel):
    """A body that names nothing: the contractor comes from the token."""

    model_config = ConfigDict(extra="forbid")


class ConfirmCard(BaseModel):
    model_config = ConfigDict(extra="forbid")
    setup_intent_id: Annotated[StrictStr, Field(min_length=1, max_length=255)]


def _contractor() -> str:
    return contractor_id(app.current_event.raw_event)


@app.post("/me/card/setup-intent", status_code=201)
@tracer.capture_method
def create_setup_intent(
    body: Annotated[NoFields | None, Body()] = None,
) -> SetupIntentCreated:
    setup_intent_id, client_secret = card_update.setup_intent(_contractor())
    return SetupIntentCreated(setup_intent_id=setup_intent_id, client_secret=client_secret)


@app.post("/me/card/confirm")
@tracer.capture_method
def confirm_card(body: Annotated[ConfirmCard, Body()]) -> CardConfirmed:
    """R11: save the card and charge everything past due to it at once."""
    now = clock.now()
    saved = card_update.confirm(_contractor(), body.setup_intent_id, now)
    card = saved.card
    return CardConfirmed(
        card=SavedCard(
            brand=card.brand, last4=card.last4, exp_month=card.exp_month, exp_year=card.exp_year
        ),
        collected_cents=saved.collected.cents,
        billing=contractor_billing(saved.account, now),
    )


@app.post("/me/pay")
@tracer.capture_method
def pay_past_due(body: Annotated[NoFields | None, Body()] = None) -> PastDuePaid:
    """R11: charge everything past due to the card on file, one attempt per invoice."""
    now = clock.now()
    paid = card_update.pay(_contractor(), now)
    return PastDuePaid(
        collected_cents=paid.collected.cents, billing=contractor_billing(paid.account, now)
    )


@app.post("/webhooks/stripe")
@tracer.capture_method
def stripe_webhook(signature: StripeSignature = None) -> WebhookReceived:
    """R6, R11: Stripe's events about payments, verified against the body's signature."""
    request = app.current_event
    payload = _raw_body(request.body, bool(request.is_base64_encoded))
    event = payments().verify_webhook(
        payload,
        signature,
        secrets().webhook_secret,
        WEBHOOK_TOLERANCE_SECONDS,
    )
    webhooks.handle(event, clock.now())
    return WebhookReceived(received=True)


def _raw_body(body: str | None, encoded: bool) -> bytes:
    """The body as Stripe signed it: API Gateway base64-encodes a body it treats as binary."""
    if body is None:
        return b""
    if not encoded:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error as error:
        raise InvalidWebhook("the body is not base64") from error


# ---------------------------------------------------------------------- errors


_error = error_response


@app.exception_handler(RequestValidationError)
def _invalid_request(error: RequestValidationError) -> Response[dict[str, Any]]:
    problems = [
        {
            # A body that is not JSON at all is the body's problem, not a field's.
            "field": ""
            if item.get("type") == "json_invalid"
            else ".".join(str(part) for part in item["loc"] if part != "body"),
            "message": item["msg"],
        }
        for item in error.errors()
    ]
    fields = ", ".join(problem["field"] or "body" for problem in problems)
    return _error(400, "invalid_request", f"invalid {fields}", problems=problems)


@app.exception_handler(NotAuthenticated)
def _not_authenticated(error: NotAuthenticated) -> Response[dict[str, Any]]:
    logger.warning("request without a contractor identity", extra={"reason": str(error)})
    return _error(401, "unauthenticated", "a contractor's access token is required")


@app.exception_handler(AccountNotFound)
def _no_account(error: AccountNotFound) -> Response[dict[str, Any]]:
    return _error(404, "account_not_found", "no billing account for this contractor")


@app.exception_handler(CardNotOwned)
def _not_owned(error: CardNotOwned) -> Response[dict[str, Any]]:
    # The same answer whether the setup is another customer's or does not exist.
    logger.warning("card setup not owned", extra={"setup_intent_id": error.setup_intent_id})
    return _error(403, "setup_intent_not_found", "no such card setup")


@app.exception_handler(NoCardOnFile)
def _no_card(error: NoCardOnFile) -> Response[dict[str, Any]]:
    return _error(409, "no_card_on_file", "there is no card on file to charge; save a card to pay")


@app.exception_handler(CardNotReady)
def _not_ready(error: CardNotReady) -> Response[dict[str, Any]]:
    return _error(
        409, "setup_intent_not_succeeded", "the card setup has not succeeded", status=error.status
    )


@app.exception_handler(InvalidWebhook)
def _invalid_webhook(error: InvalidWebhook) -> Response[dict[str, Any]]:
    logger.warning("webhook refused", extra={"reason": str(error)})
    return _error(400, "invalid_signature", "the webhook's signature does not verify")


@app.exception_handler(PaymentsRejected)
def _rejected(error: PaymentsRejected) -> Response[dict[str, Any]]:
    logger.exception("payments refused the request")
    return _error(502, "payments_rejected", "the payment processor refused the request")


@app.exception_handler([PaymentsUnavailable, StorageUnavailable, EventsNotPublished])
def _unavailable(error: Exception) -> Response[dict[str, Any]]:
    logger.exception("unavailable")
    return _error(503, "unavailable", "a service the billing needs is unavailable; retry later")


add_common_error_handlers(app, logger)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
