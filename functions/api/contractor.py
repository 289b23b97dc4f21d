"""The contractor's routes on the api function (R8, R13): their own billing.

Behind the Cognito user pool authorizer. The contractor is the one the verified token
names (``functions.adapters.identity``), never one named by the path, the query or the
body. The route signatures are read at run time by the resolver's validation, so this
module keeps its annotations evaluated (no ``from __future__ import annotations``).
"""

from typing import Annotated

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from functions.adapters import clock
from functions.adapters.cursors import MAX_CURSOR_LENGTH
from functions.adapters.identity import contractor_id
from functions.adapters.ledger import LedgerReader
from functions.api.documents import RESPONSES, InvoiceId, invoice_pdf
from functions.api.invoice_views import invoice_detail, invoice_page
from functions.api.ledger_views import ledger_page
from functions.api.services import EventsNotPublished, current
from functions.billing.account import MAX_BUDGET
from functions.billing.errors import InvoiceNotFound
from functions.billing.money import Money
from functions.usecases.answers import ContractorBilling, InvoiceDetail, InvoicePage, LedgerPage
from functions.usecases.billing_view import contractor_billing

logger = Logger(child=True)
tracer = Tracer()
router = Router()
ledger = LedgerReader()

PageSize = Annotated[int, Query(ge=1, le=100, description="items per page")]
Cursor = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=MAX_CURSOR_LENGTH,
        description="the next_cursor of the page before; opaque, valid for this listing only",
    ),
]


class BudgetChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    monthly_cents: Annotated[StrictInt, Field(ge=1, le=MAX_BUDGET.cents)]


def _contractor() -> str:
    return contractor_id(router.current_event.raw_event)


@router.get("/me/billing")
@tracer.capture_method
def get_my_billing() -> ContractorBilling:
    """R13: the contractor's own billing state and card on file."""
    return contractor_billing(current().accounts.get(_contractor()), clock.now())


@router.put("/me/budget")
@tracer.capture_method
def put_my_budget(body: Annotated[BudgetChange, Body()]) -> ContractorBilling:
    """R8: the new monthly budget takes effect at once, pausing or reactivating at once."""
    now = clock.now()
    services = current()
    changed, events = services.periods.change_budget(_contractor(), Money(body.monthly_cents), now)
    if events and services.bus.publish(events):
        raise EventsNotPublished(changed.contractor_id)
    logger.info(
        "budget changed",
        extra={"contractor_id": changed.contractor_id, "monthly_cents": body.monthly_cents},
    )
    return contractor_billing(changed, now)


@router.get("/me/invoices")
@tracer.capture_method
def list_my_invoices(limit: PageSize = 20, cursor: Cursor = None) -> InvoicePage:
    """R13: the contractor's invoices, newest first, a page at a time. A cursor made for
    another account's listing is refused (400)."""
    services = current()
    me = _contractor()
    account = services.accounts.get(me)
    page = services.invoices.list_for(me, limit=limit, cursor=cursor)
    return invoice_page(page, account.timezone)


@router.get("/me/invoices/<invoice_id>")
@tracer.capture_method
def get_my_invoice(invoice_id: InvoiceId) -> InvoiceDetail:
    """R13: one of the contractor's invoices with its leads, payment attempts and total.
    Another account's invoice answers exactly as an unknown one: 404, nothing of it."""
    services = current()
    me = _contractor()
    account = services.accounts.get(me)
    invoice = services.invoices.get(invoice_id)
    if invoice is None or invoice.contractor_id != me:
        raise InvoiceNotFound(invoice_id)
    return invoice_detail(invoice, account.timezone)


@router.get("/me/ledger")
@tracer.capture_method
def list_my_ledger(limit: PageSize = 20, cursor: Cursor = None) -> LedgerPage:
    """R12, R13: the contractor's ledger in the order it was recorded (charges, rejected
    leads, pauses and reactivations with their reasons, invoices, payments), a page at a
    time."""
    services = current()
    me = _contractor()
    account = services.accounts.get(me)
    return ledger_page(ledger.list_for(me, limit=limit, cursor=cursor), account.timezone)


@router.get("/me/invoices/<invoice_id>/pdf", responses=RESPONSES)
@tracer.capture_method
def get_my_invoice_pdf(invoice_id: InvoiceId):
    """R5, R13: the PDF the invoice's email carried, byte for byte.

    No return annotation: the resolver's validation would serialize the PDF's bytes as
    JSON. The answer is ``functions.api.documents.invoice_pdf``'s."""
    return invoice_pdf(_contractor(), invoice_id)
