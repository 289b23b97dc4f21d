"""PynamoDB models of the billing tables.

These classes are the single definition of every table: the functions read and write
through them, the integration tests create their tables from them, and the CDK stack
builds its tables from them (``infra/tables.py``), so the three cannot drift.

Table names are bound at cold start from the function's settings (``bind_tables``).
Instants are stored as fixed-width UTC strings (``storage.instant``) so that they compare
correctly as strings inside DynamoDB condition expressions.
"""

from __future__ import annotations

from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.indexes import AllProjection, LocalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite


class _Table(Model):
    class Meta:
        abstract = True
        billing_mode = "PAY_PER_REQUEST"
        table_name = "unbound"


class AccountManagerAttribute(MapAttribute[str, str]):
    name = UnicodeAttribute()
    phone = UnicodeAttribute()
    email = UnicodeAttribute()


class AccountModel(_Table):
    """One item per contractor: profile, budget period state and balances.

    ``remaining_cents`` is kept beside ``spent_cents`` so that a charge can be conditioned
    on the remaining budget without reading the account first (R8). ``pauses`` maps a
    pause reason to the instant it started (R12). ``prev_*`` keeps the budget period just
    ended, so that a lead delivered before a reset but processed after it is charged to the
    period it was delivered in (R7).
    """

    class Meta(_Table.Meta):
        abstract = False
        stream_view_type = "NEW_AND_OLD_IMAGES"

    contractor_id = UnicodeAttribute(hash_key=True)
    business_name = UnicodeAttribute()
    billing_email = UnicodeAttribute()
    locale = UnicodeAttribute()
    timezone = UnicodeAttribute()
    signed_up_at = UnicodeAttribute()
    monthly_budget_cents = NumberAttribute()
    threshold_cents = NumberAttribute()
    account_manager = AccountManagerAttribute()
    period_start = UnicodeAttribute()
    period_end = UnicodeAttribute()
    spent_cents = NumberAttribute()
    remaining_cents = NumberAttribute()
    prev_period_start = UnicodeAttribute(null=True)
    prev_period_end = UnicodeAttribute(null=True)
    prev_remaining_cents = NumberAttribute(null=True)
    unbilled_cents = NumberAttribute()
    past_due_cents = NumberAttribute()
    pauses = MapAttribute[str, str](default=dict)
    grace_ends_at = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()


class ChronologicalIndex(LocalSecondaryIndex["LedgerEntryModel"]):
    """The ledger of one account in the order its entries were recorded."""

    class Meta:
        index_name = "chronological"
        projection = AllProjection()

    contractor_id = UnicodeAttribute(hash_key=True)
    recorded_key = UnicodeAttribute(range_key=True)


class LedgerEntryModel(_Table):
    """An append-only ledger: one entry per business event, never updated or deleted.

    ``entry_id`` is derived from the business id of the event (``lead#<lead_id>`` for the
    outcome of a lead, ``period#<start>`` for a budget period, ...), and every entry is
    written on the condition that it does not exist yet, so a retry cannot write it twice.
    """

    class Meta(_Table.Meta):
        abstract = False

    contractor_id = UnicodeAttribute(hash_key=True)
    entry_id = UnicodeAttribute(range_key=True)
    recorded_key = UnicodeAttribute()
    kind = UnicodeAttribute()
    recorded_at = UnicodeAttribute()
    amount_cents = NumberAttribute(default=0)
    lead_id = UnicodeAttribute(null=True)
    category = UnicodeAttribute(null=True)
    delivered_at = UnicodeAttribute(null=True)
    period_start = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    detail = UnicodeAttribute(null=True)
    # Facts a lead's transaction established besides its own outcome, so that a redelivered
    # lead can announce again exactly what its first delivery announced.
    paused_since = UnicodeAttribute(null=True)
    reactivated_paused_since = UnicodeAttribute(null=True)
    chronological = ChronologicalIndex()


class LeadModel(_Table):
    """The Leads table, owned by the lead distribution system (input contract).

    Only the key is declared for the table definition; the attributes the billing reads
    are validated from the stream image (``billing.leads.parse_lead``).
    """

    class Meta(_Table.Meta):
        abstract = False
        stream_view_type = "NEW_IMAGE"

    lead_id = UnicodeAttribute(hash_key=True)


class QuarantineModel(_Table):
    """Input that could not be billed, kept with its reason for an operator."""

    class Meta(_Table.Meta):
        abstract = False

    quarantine_id = UnicodeAttribute(hash_key=True)
    reason = UnicodeAttribute()
    detail = UnicodeAttribute()
    source = UnicodeAttribute()
    payload = UnicodeAttribute()
    received_at = UnicodeAttribute()
    lead_id = UnicodeAttribute(null=True)
    contractor_id = UnicodeAttribute(null=True)


TABLE_MODELS: dict[str, type[Model]] = {
    "accounts": AccountModel,
    "ledger": LedgerEntryModel,
    "leads": LeadModel,
    "quarantine": QuarantineModel,
}


def bind_tables(names: dict[str, str]) -> None:
    """Point each model at its physical table (``{"accounts": "Accounts-ABC", ...}``)."""
    for key, name in names.items():
        model = TABLE_MODELS[key]
        model.Meta.table_name = name
        model._connection = None


_connection: Connection | None = None


def transact_write() -> TransactWrite:
    """A write transaction across the billing tables (one connection per process)."""
    global _connection
    if _connection is None:
        _connection = Connection()
    return TransactWrite(connection=_connection)
