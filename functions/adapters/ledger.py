"""Reading an account's ledger in the order it was recorded (R13), a page at a time.

The ledger is append-only (``models.LedgerEntryModel``): this port only reads it, from the
local ``chronological`` index (``recorded_key`` = ``<instant>#<entry_id>``), in the
caller's partition only. Pages continue with a cursor bound to the account
(``cursors``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pynamodb.exceptions import QueryError

from functions.adapters import cursors
from functions.adapters.accounts import parse_instant
from functions.adapters.models import LedgerEntryModel
from functions.billing.errors import StorageUnavailable
from functions.billing.money import Money


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
