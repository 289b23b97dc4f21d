"""Ledger entries as the API shows them (amounts in cents, ISO 8601 times with the
account's offset): what every entry has, and of the rest what its kind carries."""

from __future__ import annotations

from functions.adapters import ledger
from functions.usecases import answers
from functions.usecases.billing_view import local_iso, local_iso_or_none


def ledger_entry_view(entry: ledger.LedgerEntry, timezone: str) -> answers.LedgerEntry:
    return answers.LedgerEntry(
        entry_id=entry.entry_id,
        kind=entry.kind,  # type: ignore[arg-type]  # checked against LedgerKind here
        recorded_at=local_iso(entry.recorded_at, timezone),
        amount_cents=entry.amount.cents,
        lead_id=entry.lead_id,
        category=entry.category,
        delivered_at=local_iso_or_none(entry.delivered_at, timezone),
        invoice_id=entry.invoice_id,
        period_start=local_iso_or_none(entry.period_start, timezone),
        reason=entry.reason,
        detail=entry.detail,
    )


def ledger_page(page: ledger.LedgerPage, timezone: str) -> answers.LedgerPage:
    return answers.LedgerPage(
        items=[ledger_entry_view(entry, timezone) for entry in page.items],
        next_cursor=page.next_cursor,
    )
