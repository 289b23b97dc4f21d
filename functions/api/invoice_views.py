"""Invoices as the API shows them, to the operator and to the contractor whose they are
(amounts in cents, ISO 8601 times with the account's offset)."""

from __future__ import annotations

from typing import Any

from functions.adapters.invoicing import Page
from functions.billing.invoices import Invoice
from functions.usecases.answers import (
    InvoiceDetail,
    InvoiceLine,
    InvoicePage,
    InvoiceSummary,
    PaidWith,
    PaymentAttempt,
)
from functions.usecases.billing_view import local_iso


def _summary_fields(invoice: Invoice, timezone: str) -> dict[str, Any]:
    return {
        "invoice_id": invoice.invoice_id,
        "contractor_id": invoice.contractor_id,
        "kind": invoice.kind,
        "status": invoice.status,
        "issued_at": local_iso(invoice.issued_at, timezone),
        "total_cents": invoice.total.cents,
        # The account credit taken off at issue, and what the card is charged (R6).
        "credit_applied_cents": invoice.credit_applied.cents,
        "amount_due_cents": invoice.amount_due.cents,
    }


def invoice_summary(invoice: Invoice, timezone: str) -> InvoiceSummary:
    return InvoiceSummary(**_summary_fields(invoice, timezone))


def invoice_page(page: Page, timezone: str) -> InvoicePage:
    """A page of an account's invoices, newest first, and the cursor of the next one."""
    return InvoicePage(
        items=[invoice_summary(invoice, timezone) for invoice in page.items],
        next_cursor=page.next_cursor,
    )


def invoice_detail(invoice: Invoice, timezone: str) -> InvoiceDetail:
    paid_with = invoice.paid_with
    return InvoiceDetail(
        **_summary_fields(invoice, timezone),
        lines=[
            InvoiceLine(
                lead_id=line.lead_id,
                delivered_at=local_iso(line.delivered_at, timezone),
                category=line.category,
                amount_cents=line.amount.cents,
            )
            for line in invoice.lines
        ],
        attempts=[
            PaymentAttempt(
                number=attempt.number,
                at=local_iso(attempt.at, timezone),
                payment_intent_id=attempt.payment_intent_id,
                outcome=attempt.outcome,
                decline_code=attempt.decline_code,
            )
            for attempt in invoice.attempts
        ],
        lead_count=len(invoice.lines),
        paid_with=None
        if paid_with is None
        else PaidWith(brand=paid_with.brand, last4=paid_with.last4),
    )
