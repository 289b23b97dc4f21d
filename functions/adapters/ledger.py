"""Reading an account's ledger in the order it was recorded (R13), a page at a time.

The ledger is append-only (``models.LedgerEntryModel``): this port only reads it, from the
local ``chronological`` index (``recorded_key`` = ``<instant>#<entry_id>``), in the
caller's partition only. Pages continue with a cursor bound to the account
(``cursors``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from pynamodb.exceptions import GetError, QueryError

from functions.adapters import cursors
from functions.adapters.accounts import parse_instant
from functions.adapters.models import InvoiceModel, LedgerEntryModel
from functions.billing.errors import StorageUnavailable
from functions.billing.money import Money
from functions.billing.reconciliation import RecordedPayment


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One recorded business event of an account: a lead charged or rejected, a budget
    period started, a pause, a reactivation, a budget change, a card saved, an invoice
    issued, a payment or a failed one. The optional fields are those its kind carries."""

    entry_id: str
    kind: str
    recorded_at: datetime
    amount: Money
    lead_id: str | None = None
    category: str | None = None
    delivered_at: datetime | None = None
    invoice_id: str | None = None
    period_start: datetime | None = None
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class LedgerPage:
    items: list[LedgerEntry]
    next_cursor: str | None


def _instant(value: str | None) -> datetime | None:
    return parse_instant(value) if value else None


def entry_from_item(item: LedgerEntryModel) -> LedgerEntry:
    return LedgerEntry(
        entry_id=item.entry_id,
        kind=item.kind,
        recorded_at=parse_instant(item.recorded_at),
        amount=Money(int(item.amount_cents or 0)),
        lead_id=item.lead_id,
        category=item.category,
        delivered_at=_instant(item.delivered_at),
        invoice_id=item.invoice_id,
        period_start=_instant(item.period_start),
        reason=item.reason,
        detail=item.detail,
    )


class LedgerReader:
    def list_for(
        self, contractor_id: str, *, limit: int = 20, cursor: str | None = None
    ) -> LedgerPage:
        """``contractor_id``'s ledger entries, oldest first, ``limit`` at a time.

        ``cursor`` is the ``next_cursor`` of the page before; one made for another account,
        or tampered with, is ``cursors.InvalidCursor`` and reads nothing."""
        start = None
        if cursor is not None:
            recorded_key, entry_id = cursors.decode(cursor, contractor_id)
            start = {
                "contractor_id": {"S": contractor_id},
                "entry_id": {"S": entry_id},
                "recorded_key": {"S": recorded_key},
            }
        try:
            found = list(
                LedgerEntryModel.chronological.query(
                    contractor_id, limit=limit + 1, last_evaluated_key=start
                )
            )
        except QueryError as error:
            raise StorageUnavailable(str(error)) from error
        page = found[:limit]
        more = len(found) > limit
        return LedgerPage(
            [entry_from_item(item) for item in page],
            cursors.encode(contractor_id, page[-1].recorded_key) if more else None,
        )


class PaymentLedger:
    """The ledger's ``payment`` entries (``payment#<invoice id>``: the amount due, the
    PaymentIntent that paid it) as the daily reconciliation reads them (R6)."""

    def recorded_on(self, day: date) -> list[RecordedPayment]:
        """The payments recorded on the UTC ``day``, from the sparse ``payments_by_day``
        index."""
        try:
            items = list(LedgerEntryModel.payments_by_day.query(day.isoformat()))
        except QueryError as error:
            raise StorageUnavailable(str(error)) from error
        return [_recorded(item) for item in items if item.kind == "payment"]

    def contractor_of(self, invoice_id: str) -> str | None:
        """The account an invoice belongs to; None when no invoice has that id."""
        try:
            return str(InvoiceModel.get(invoice_id).contractor_id)
        except InvoiceModel.DoesNotExist:
            return None
        except GetError as error:
            raise StorageUnavailable(str(error)) from error

    def payment_of(self, contractor_id: str, invoice_id: str) -> RecordedPayment | None:
        """The payment recorded for an invoice, whatever its day; None when it is unpaid."""
        try:
            item = LedgerEntryModel.get(contractor_id, f"payment#{invoice_id}")
        except LedgerEntryModel.DoesNotExist:
            return None
        except GetError as error:
            raise StorageUnavailable(str(error)) from error
        return _recorded(item)


def _recorded(item: LedgerEntryModel) -> RecordedPayment:
    return RecordedPayment(
        contractor_id=item.contractor_id,
        invoice_id=item.detail or item.entry_id.removeprefix("payment#"),
        payment_intent_id=item.reason,
        amount=Money(int(item.amount_cents or 0)),
        recorded_at=parse_instant(item.recorded_at),
    )
