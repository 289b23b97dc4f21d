"""The billing API: the operator's routes and the contractor's.

- ``/admin/...``: open an account, read its billing state and invoices. IAM-authorized in
  the deployed stack; the local gateway accepts an admin token instead.
- ``/me/billing`` and ``/me/budget`` (R8, R13): the contractor's own billing, behind the
  Cognito user pool authorizer. The contractor is the one the verified token names
  (``functions.adapters.identity``), never one named by the path, the query or the body.

The route signatures are read at run time by the resolver's validation, so this module
keeps its annotations evaluated (no ``from __future__ import annotations``).
Errors map to status codes in one place (the exception handlers below).
"""

from typing import Annotated, Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, StrictStr

from functions.adapters import clock
from functions.adapters.accounts import AccountStore
from functions.adapters.budget_periods import BudgetPeriods
from functions.adapters.cards import CardStore
from functions.adapters.event_bus import EventBus
from functions.adapters.identity import NotAuthenticated, contractor_id
from functions.adapters.invoicing import InvoiceStore
from functions.adapters.models import bind_tables
from functions.adapters.payments import payments_from_secret
from functions.adapters.settings import ApiSettings
from functions.api.invoice_views import invoice_detail, invoice_summary
from functions.billing.account import (
    DEFAULT_THRESHOLD,
    MAX_BUDGET,
    AccountError,
    AccountManager,
    open_account,
)
from functions.billing.errors import (
    AccountAlreadyExists,
    AccountNotFound,
    InvoiceNotFound,
    StorageUnavailable,
)
from functions.billing.money import Money
from functions.billing.payments import PaymentsError
from functions.usecases.billing_view import billing_state, contractor_billing

settings = ApiSettings.from_env()
bind_tables(settings.table_names())
logger = Logger()
tracer = Tracer()
app = APIGatewayRestResolver(enable_validation=True)
accounts = AccountStore()
invoices = InvoiceStore()
cards = CardStore(accounts)
payments = payments_from_secret(settings.stripe_secret_name)
periods = BudgetPeriods()
bus = EventBus(boto3.client("events"), settings.event_bus_name)

Text = Annotated[StrictStr, Field(min_length=1, max_length=200)]


class AccountManagerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text
    phone: Text
    email: Text


class NewAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contractor_id: Annotated[StrictStr, Field(min_length=1, max_length=128)]
    business_name: Text
    billing_email: Text
    locale: Annotated[StrictStr, Field(pattern="^(en|es)$")]
    timezone: Text
    monthly_budget_cents: Annotated[StrictInt, Field(ge=1, le=MAX_BUDGET.cents)]
    threshold_cents: Annotated[StrictInt, Field(ge=1, le=MAX_BUDGET.cents)] = (
        DEFAULT_THRESHOLD.cents
    )
    signed_up_at: AwareDatetime | None = None
    account_manager: AccountManagerBody | None = None


@app.post("/admin/accounts")
@tracer.capture_method
def create_account(body: Annotated[NewAccount, Body()]) -> Response[dict[str, Any]]:
    now = clock.now()
    manager = body.account_manager
    account = open_account(
        contractor_id=body.contractor_id,
        business_name=body.business_name,
        billing_email=body.billing_email,
        locale=body.locale,
        timezone=body.timezone,
        signed_up_at=body.signed_up_at or now,
        monthly_budget=Money(body.monthly_budget_cents),
        threshold=Money(body.threshold_cents),
        account_manager=AccountManager(manager.name, manager.phone, manager.email)
        if manager
        else None,
    )
    accounts.create(account, now)
    logger.info("account opened", extra={"contractor_id": account.contractor_id})
    _open_stripe_customer(body.contractor_id, body.business_name, body.billing_email)
    return Response(201, "application/json", billing_state(accounts.get(body.contractor_id), now))


def _open_stripe_customer(contractor_id: str, business_name: str, email: str) -> None:
    """R6: the Stripe customer is created with the account (idempotent per contractor).
    When Stripe cannot be reached the account stands without one, and the card routes
    create it on first use."""
    try:
        customer_id = payments().create_customer(contractor_id, business_name, email)
        cards.keep_customer(contractor_id, customer_id)
    except PaymentsError:
        logger.warning("Stripe customer not created", extra={"contractor_id": contractor_id})


@app.get("/admin/accounts/<contractor_id>")
@tracer.capture_method
def get_account(contractor_id: str) -> dict[str, Any]:
    return billing_state(accounts.get(contractor_id), clock.now())


@app.get("/admin/accounts/<contractor_id>/invoices")
@tracer.capture_method
def list_invoices(
    contractor_id: str,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> dict[str, Any]:
    """An account's invoices, newest first, a page at a time."""
    account = accounts.get(contractor_id)
    page = invoices.list_for(contractor_id, limit=limit, cursor=cursor)
    return {
        "items": [invoice_summary(invoice, account.timezone) for invoice in page.items],
        "next_cursor": page.next_cursor,
    }


@app.get("/admin/invoices/<invoice_id>")
@tracer.capture_method
def get_invoice(invoice_id: str) -> dict[str, Any]:
    invoice = invoices.get(invoice_id)
    if invoice is None:
        raise InvoiceNotFound(invoice_id)
    account = accounts.get(invoice.contractor_id)
    return invoice_detail(invoice, account.timezone)


class BudgetChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    monthly_cents: Annotated[StrictInt, Field(ge=1, le=MAX_BUDGET.cents)]


class EventsNotPublished(RuntimeError):
    """The bus refused an event of a change that is stored."""


def _contractor() -> str:
    return contractor_id(app.current_event.raw_event)


@app.get("/me/billing")
@tracer.capture_method
def get_my_billing() -> dict[str, Any]:
    """R13: the contractor's own billing state and card on file."""
    return contractor_billing(accounts.get(_contractor()), clock.now())


@app.put("/me/budget")
@tracer.capture_method
def put_my_budget(body: Annotated[BudgetChange, Body()]) -> dict[str, Any]:
    """R8: the new monthly budget takes effect at once, pausing or reactivating at once."""
    now = clock.now()
    changed, events = periods.change_budget(_contractor(), Money(body.monthly_cents), now)
    if events and bus.publish(events):
        raise EventsNotPublished(changed.contractor_id)
    logger.info(
        "budget changed",
        extra={"contractor_id": changed.contractor_id, "monthly_cents": body.monthly_cents},
    )
    return contractor_billing(changed, now)


def _error(status: int, code: str, message: str, **extra: Any) -> Response[dict[str, Any]]:
    return Response(status, "application/json", {"error": code, "message": message, **extra})


@app.exception_handler(RequestValidationError)
def _invalid_request(error: RequestValidationError) -> Response[dict[str, Any]]:
    problems = [
        {
            "field": ".".join(str(part) for part in item["loc"] if part != "body"),
            "message": item["msg"],
        }
        for item in error.errors()
    ]
    fields = ", ".join(problem["field"] or "body" for problem in problems)
    return _error(400, "invalid_request", f"invalid {fields}", problems=problems)


@app.exception_handler(AccountError)
def _invalid_account(error: AccountError) -> Response[dict[str, Any]]:
    return _error(
        400,
        "invalid_request",
        str(error),
        problems=[{"field": error.field, "message": error.message}],
    )


@app.exception_handler(AccountAlreadyExists)
def _exists(error: AccountAlreadyExists) -> Response[dict[str, Any]]:
    return _error(409, "account_exists", str(error))


@app.exception_handler(InvoiceNotFound)
def _no_invoice(error: InvoiceNotFound) -> Response[dict[str, Any]]:
    return _error(404, "invoice_not_found", str(error))


@app.exception_handler(AccountNotFound)
def _not_found(error: AccountNotFound) -> Response[dict[str, Any]]:
    if app.current_event.path.startswith("/me/"):
        return _error(404, "account_not_found", "no billing account for this contractor")
    return _error(404, "account_not_found", str(error))


@app.exception_handler(NotAuthenticated)
def _not_authenticated(error: NotAuthenticated) -> Response[dict[str, Any]]:
    logger.warning("request without a contractor identity", extra={"reason": str(error)})
    return _error(401, "unauthenticated", "a contractor's access token is required")


@app.exception_handler(EventsNotPublished)
def _not_announced(error: EventsNotPublished) -> Response[dict[str, Any]]:
    logger.error("budget change stored but not announced", extra={"contractor_id": str(error)})
    return _error(503, "unavailable", "the change is saved but was not announced; retry later")


@app.exception_handler(StorageUnavailable)
def _unavailable(error: StorageUnavailable) -> Response[dict[str, Any]]:
    logger.exception("storage unavailable")
    return _error(503, "unavailable", "billing storage is unavailable; retry later")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
