"""Ledger entries as the API shows them (amounts in cents, ISO 8601 times with the
account's offset): what every entry has, and of the rest only what its kind carries."""

from __future__ import annotations

from typing import Any

from functions.adapters.ledger import LedgerEntry, LedgerPage
from functions.usecases.billing_view import local_iso


def ledger_entry_view(entry: LedgerEntry, timezone: str) -> dict[str, Any]:
    optional = {
        "lead_id": entry.lead_id,
        "category": entry.category,
        "delivered_at": local_iso(entry.delivered_at, timezone),
        "invoice_id": entry.invoice_id,
        "period_start": local_iso(entry.period_start, timezone),
        "reason": entry.reason,
        "detail": entry.detail,
    }
    return {
        "entry_id": entry.entry_id,
        "kind": entry.kind,
        "recorded_at": local_iso(entry.recorded_at, timezone),
        "amount_cents": entry.amount.cents,
        **{name: value for name, value in optional.items() if value is not None},
    }


def ledger_page(page: LedgerPage, timezone: str) -> dict[str, Any]:
    return {
        "items": [ledger_entry_view(entry, timezone) for entry in page.items],
        "next_cursor": page.next_cursor,
    }
