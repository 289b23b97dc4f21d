"""What the API's routes answer, as models: the return types of the routes of both HTTP
functions (api, card_updated).

The resolvers validate every answer against its route's model before it leaves (a view
that drifted from its model is a logged 500, never a malformed answer), and the OpenAPI
document (``infra/openapi.py``) gives clients these schemas. Every model forbids fields
it does not name, so the document's ``additionalProperties: false`` holds.

The views (``billing_view``, ``functions.api.invoice_views``, ...) build plain dicts;
these models only describe and check them. Amounts are integer cents; instants are
ISO 8601 strings with the account's offset, as the views format them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from functions.billing.account import Locale, PauseReason
from functions.billing.credits import CreditKind
from functions.billing.invoices import AttemptOutcome, InvoiceKind, InvoiceStatus

Cents = Annotated[int, Field(ge=0, description="an amount in cents")]
Instant = Annotated[
    str,
    Field(
        description="ISO 8601 with the account's UTC offset",
        json_schema_extra={"format": "date-time"},
    ),
]
# R12: what the ledger records, one kind per business event.
LedgerKind = Literal[
    "charge",
    "lead_rejected",
    "lead_credited",
    "budget_period_started",
    "budget_changed",
    "account_paused",
    "account_reactivated",
    "details_changed",
    "card_saved",
    "invoice_issued",
    "credit_applied",
    "payment",
    "payment_failed",
]


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------- billing state


class Pause(Answer):
    """A pause that holds: no lead is delivered while any does (R8, R10)."""

    reason: PauseReason
    since: Instant


class BudgetState(Answer):
    """R7, R8: the budget period the account is in."""

    monthly_cents: Cents
    spent_cents: Cents
    remaining_cents: Cents
    period_start: Instant
    next_reset: Instant


class NextInvoice(Answer):
    """R3, R4: ``weekly`` at the next Friday run (no invoice when nothing is unbilled by
    then), or ``threshold`` now: the unbilled charges reached the threshold."""

    kind: InvoiceKind
    at: Instant


class AccountManagerState(Answer):
    name: str
    phone: str
    email: str


class BillingState(Answer):
    """An account's billing state (R13)."""

    contractor_id: str
    business_name: str
    billing_email: str
    locale: Locale
    timezone: str
    signed_up_at: Instant
    status: Literal["active", "paused"]
    pauses: list[Pause]
    budget: BudgetState
    unbilled_cents: Cents
    past_due_cents: Cents
    credit_cents: Annotated[
        int, Field(ge=0, description="lead credits the next invoice takes off (R6)")
    ]
    threshold_cents: Cents
    threshold_remaining_cents: Cents
    next_invoice: NextInvoice
    grace_ends_at: Instant | None = Field(
        description="R9: the end of the grace period while a payment has failed"
    )
    account_manager: AccountManagerState


class SavedCard(Answer):
    """The card on file as Stripe describes it; never its number."""

    brand: str
    last4: Annotated[str, Field(pattern=r"^[0-9]{4}$")]
    exp_month: Annotated[int, Field(ge=1, le=12)]
    exp_year: int


class CardState(SavedCard):
    expired: bool = Field(description="whether the card's month has ended, in the account's zone")


class ContractorBilling(BillingState):
    """``GET /me/billing``: the contractor's own billing state and card on file."""

    card: CardState | None


# ---------------------------------------------------------------------- card and payment


class SetupIntentCreated(Answer):
    """For Stripe.js: confirm the card with ``client_secret``, then
    ``POST /me/card/confirm``."""

    setup_intent_id: str
    client_secret: str


class CardConfirmed(Answer):
    """R11: the card saved, and what was past due charged to it at once."""

    card: SavedCard
    collected_cents: Cents
    billing: ContractorBilling


class PastDuePaid(Answer):
    collected_cents: Cents
    billing: ContractorBilling


class WebhookReceived(Answer):
    received: bool


# ---------------------------------------------------------------------- invoices


class InvoiceSummary(Answer):
    invoice_id: str
    contractor_id: str
    kind: InvoiceKind
    status: InvoiceStatus
    issued_at: Instant
    total_cents: Cents
    credit_applied_cents: Cents
    amount_due_cents: Annotated[
        int, Field(ge=0, description="the total less the credit applied: what the card pays")
    ]


class InvoicePage(Answer):
    """Newest first."""

    items: list[InvoiceSummary]
    next_cursor: str | None = Field(description="for the next page; null on the last one")


class InvoiceLine(Answer):
    lead_id: str
    delivered_at: Instant
    category: str
    amount_cents: Cents


class PaymentAttempt(Answer):
    number: Annotated[int, Field(ge=1)]
    at: Instant
    payment_intent_id: str | None
    outcome: AttemptOutcome
    decline_code: str | None


class PaidWith(Answer):
    brand: str
    last4: str


class InvoiceDetail(InvoiceSummary):
    lines: list[InvoiceLine]
    attempts: list[PaymentAttempt]
    lead_count: Annotated[int, Field(ge=0)]
    paid_with: PaidWith | None


# ---------------------------------------------------------------------- ledger


class LedgerEntry(Answer):
    """One recorded business event. The optional fields are those its kind carries; the
    others are null."""

    entry_id: str
    kind: LedgerKind
    recorded_at: Instant
    amount_cents: Cents
    lead_id: str | None = None
    category: str | None = None
    delivered_at: Instant | None = None
    invoice_id: str | None = None
    period_start: Instant | None = None
    reason: str | None = None
    detail: str | None = None


class LedgerPage(Answer):
    """In the order recorded; entries recorded at the same instant by their ``entry_id``."""

    items: list[LedgerEntry]
    next_cursor: str | None = Field(description="for the next page; null on the last one")


# ---------------------------------------------------------------------- lead credits


class LeadCredit(Answer):
    lead_id: str
    contractor_id: str
    amount_cents: Cents
    kind: CreditKind
    invoice_id: str | None = Field(description="the invoice that billed the lead, if any")
    reason: str
    credited_at: Instant
    budget_returned_cents: Cents
    reactivated: bool = Field(description="whether the credit lifted a budget pause")


class LeadCredited(Answer):
    credit: LeadCredit
    account: BillingState
