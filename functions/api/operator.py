"""The operator's routes (``/admin``): open an account, read its billing state and invoices.

IAM-authorized in the deployed stack; the local gateway accepts an admin token instead.
The route signatures are read at run time by the resolver's validation, so this module
keeps its annotations evaluated (no ``from __future__ import annotations``).
"""

from typing import Annotated

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, StrictStr

from functions.adapters import clock
from functions.adapters.cursors import MAX_CURSOR_LENGTH
from functions.adapters.ledger import LedgerReader
from functions.api.account_changes import RESPONSES as PATCH_RESPONSES
from functions.api.account_changes import AccountPatch, change_account
from functions.api.documents import InvoiceId
from functions.api.invoice_views import invoice_detail, invoice_page
from functions.api.ledger_views import ledger_page
from functions.api.services import current
from functions.billing.account import (
    CONTRACTOR_ID,
    DEFAULT_THRESHOLD,
    MAX_BUDGET,
    AccountError,
    AccountManager,
    open_account,
)
from functions.billing.errors import InvoiceNotFound
from functions.billing.invoices import BILLING_TIMEZONES
from functions.billing.money import Money
from functions.billing.payments import PaymentsError
from functions.usecases.answers import BillingState, InvoiceDetail, InvoicePage, LedgerPage
from functions.usecases.billing_view import billing_state

logger = Logger(child=True)
tracer = Tracer()
router = Router()
# A contractor id in a path, as account.py opens it: a bad one is a 400 invalid_request.
ContractorId = Annotated[str, Path(min_length=1, max_length=128, pattern=CONTRACTOR_ID.pattern)]
ledger = LedgerReader()

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


@router.post("/admin/accounts", status_code=201)
@tracer.capture_method
def create_account(body: Annotated[NewAccount, Body()]) -> BillingState:
    now = clock.now()
    if body.timezone not in BILLING_TIMEZONES:
        # R3: only these timezones have a Friday run; an account elsewhere would never be
        # invoiced weekly.
        raise AccountError("timezone", f"must be one of {', '.join(BILLING_TIMEZONES)}")
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
    accounts = current().accounts
    accounts.create(account, now)
    logger.info("account opened", extra={"contractor_id": account.contractor_id})
    _open_stripe_customer(body.contractor_id, body.business_name, body.billing_email)
    return billing_state(accounts.get(body.contractor_id), now)


def _open_stripe_customer(contractor_id: str, business_name: str, email: str) -> None:
    """R6: the Stripe customer is created with the account (idempotent per contractor).
    When Stripe cannot be reached the account stands without one, and the card routes
    create it on first use."""
    try:
        services = current()
        customer_id = services.payments().create_customer(contractor_id, business_name, email)
        services.cards.keep_customer(contractor_id, customer_id)
    except PaymentsError:
        logger.warning("Stripe customer not created", extra={"contractor_id": contractor_id})


@router.get("/admin/accounts/<contractor_id>")
@tracer.capture_method
def get_account(contractor_id: ContractorId) -> BillingState:
    return billing_state(current().accounts.get(contractor_id), clock.now())


@router.patch("/admin/accounts/<contractor_id>", responses=PATCH_RESPONSES)
@tracer.capture_method
def patch_account(
    contractor_id: ContractorId, body: Annotated[AccountPatch, Body()]
) -> BillingState:
    """Change an account's details; never its balances, pauses or status."""
    return change_account(contractor_id, body)


@router.get("/admin/accounts/<contractor_id>/invoices")
@tracer.capture_method
def list_invoices(
    contractor_id: ContractorId,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(min_length=1, max_length=MAX_CURSOR_LENGTH)] = None,
) -> InvoicePage:
    """An account's invoices, newest first, a page at a time."""
    account = current().accounts.get(contractor_id)
    page = current().invoices.list_for(contractor_id, limit=limit, cursor=cursor)
    return invoice_page(page, account.timezone)


@router.get("/admin/accounts/<contractor_id>/ledger")
@tracer.capture_method
def list_ledger(
    contractor_id: ContractorId,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(min_length=1, max_length=MAX_CURSOR_LENGTH)] = None,
) -> LedgerPage:
    """An account's ledger in the order it was recorded, a page at a time."""
    account = current().accounts.get(contractor_id)
    page = ledger.list_for(contractor_id, limit=limit, cursor=cursor)
    return ledger_page(page, account.timezone)


@router.get("/admin/invoices/<invoice_id>")
@tracer.capture_method
def get_invoice(invoice_id: InvoiceId) -> InvoiceDetail:
    services = current()
    invoice = services.invoices.get(invoice_id)
    if invoice is None:
        raise InvoiceNotFound(invoice_id)
    account = services.accounts.get(invoice.contractor_id)
    return invoice_detail(invoice, account.timezone)
