"""PynamoDB models of the billing tables.

These classes are the single definition of every table: the functions read and write
through them, the integration tests create their tables from them, and the CDK stack
builds its tables from them (``infra/tables.py``), so the three cannot drift.

Table names are bound at cold start from the function's settings (``bind_tables``), and
every model and transaction of the process shares one DynamoDB client (``dynamodb_client``).
Instants are stored as fixed-width UTC strings (``accounts.instant``) so that they compare
correctly as strings inside DynamoDB condition expressions.
"""

from __future__ import annotations

import threading
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.connection import Connection, TableConnection
from pynamodb.indexes import (
    AllProjection,
    GlobalSecondaryIndex,
    IncludeProjection,
    KeysOnlyProjection,
    LocalSecondaryIndex,
)
from pynamodb.models import Model
from pynamodb.settings import get_settings_value
from pynamodb.transactions import TransactWrite


class _Table(Model):
    class Meta:
        abstract = True
        billing_mode = "PAY_PER_REQUEST"
        table_name = "unbound"

    @classmethod
    def _get_connection(cls) -> TableConnection:
        # PynamoDB gives each model a connection, and each connection a botocore session
        # and client of its own, built on first use: a function using four tables would
        # load DynamoDB's service model four times in its first invocation. They all
        # share the process's one client instead.
        table = super()._get_connection()
        if table.connection._client is None:
            table.connection._client = dynamodb_client()
        return table


class AccountManagerAttribute(MapAttribute[str, str]):
    name = UnicodeAttribute()
    phone = UnicodeAttribute()
    email = UnicodeAttribute()


class CardAttribute(MapAttribute[str, object]):
    """The card on file as Stripe describes it; never its number (R11)."""

    payment_method_id = UnicodeAttribute()
    brand = UnicodeAttribute()
    last4 = UnicodeAttribute()
    exp_month = NumberAttribute()
    exp_year = NumberAttribute()


class BillableIndex(GlobalSecondaryIndex["AccountModel"]):
    """R3: the accounts with unbilled charges, by timezone, so that the Friday run of a
    timezone reads only the accounts it must invoice. Sparse: an account is in it while
    ``billable_timezone`` is set (by a charge; removed by the invoice that bills all)."""

    class Meta:
        index_name = "billable"
        projection = KeysOnlyProjection()

    billable_timezone = UnicodeAttribute(hash_key=True)
    contractor_id = UnicodeAttribute(range_key=True)


class ResetsIndex(GlobalSecondaryIndex["AccountModel"]):
    """R7: the accounts of a timezone by the end of their stored budget period, so that the
    daily reset of a timezone reads only the accounts whose period ended
    (``timezone = zone AND period_end <= now``). Every account has both keys, so every
    account is in it, with no attribute to backfill; keys only, so that charges, which
    change neither key, cost no index write."""

    class Meta:
        index_name = "resets"
        projection = KeysOnlyProjection()

    timezone = UnicodeAttribute(hash_key=True)
    period_end = UnicodeAttribute(range_key=True)


class GraceIndex(GlobalSecondaryIndex["AccountModel"]):
    """R9, R10: the accounts whose grace period runs, by its end, so that the hourly check
    reads only them. Sparse: ``grace_shard`` is set with ``grace_ends_at`` by the first
    failed payment and removed with it when everything past due is paid."""

    class Meta:
        index_name = "grace"
        projection = KeysOnlyProjection()

    grace_shard = UnicodeAttribute(hash_key=True)
    grace_ends_at = UnicodeAttribute(range_key=True)


class CustomerIndex(GlobalSecondaryIndex["AccountModel"]):
    """R11: the account of a Stripe customer, for the webhooks that name only the customer
    (a SetupIntent that succeeded, a card that Stripe's card updater replaced). Sparse: an
    account is in it once ``stripe_customer_id`` is stored. An index rather than a mapping
    item: the customer id is written once on the account, so the index needs no second
    write kept in step with it and covers accounts that had a customer before it existed."""

    class Meta:
        index_name = "by_customer"
        projection = KeysOnlyProjection()

    stripe_customer_id = UnicodeAttribute(hash_key=True)


class CardExpiryIndex(GlobalSecondaryIndex["AccountModel"]):
    """R14: the accounts whose card on file expires in a month (``YYYY-MM``), so that the
    daily check of a timezone reads only the cards expiring this month, filtered on the
    projected timezone. Sparse: an account is in it while it has a card."""

    class Meta:
        index_name = "card_expiry"
        projection = IncludeProjection(["timezone"])

    card_expires = UnicodeAttribute(hash_key=True)
    contractor_id = UnicodeAttribute(range_key=True)


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
    first_failure_at = UnicodeAttribute(null=True)  # R9: the grace period starts from it
    grace_shard = UnicodeAttribute(null=True)  # set while a grace period runs (GraceIndex)
    created_at = UnicodeAttribute()
    # R4: threshold minus unbilled, kept so that a charge can tell without a read whether
    # it reaches the threshold; ``invoice_due`` is the flag the threshold trigger filters on.
    invoice_headroom_cents = NumberAttribute()
    invoice_due = BooleanAttribute(default=False)
    invoice_sequence = NumberAttribute(default=0)
    budget_changes = NumberAttribute(null=True)  # R8: absent until the first change
    billable_timezone = UnicodeAttribute(null=True)
    stripe_customer_id = UnicodeAttribute(null=True)
    card = CardAttribute(null=True)
    card_expires = UnicodeAttribute(null=True)  # the card's expiry month (CardExpiryIndex)
    # R11: card setups are numbered in the order they were started (the count so far), and
    # the card on file keeps its setup's number, so an older setup cannot replace it.
    card_setups = NumberAttribute(null=True)
    card_setup = NumberAttribute(null=True)
    # Lead credits of invoiced charges, taken off the next invoice (``billing.credits``);
    # absent on accounts that never had one: zero.
    credit_cents = NumberAttribute(null=True)
    billable = BillableIndex()
    resets = ResetsIndex()
    grace = GraceIndex()
    by_customer = CustomerIndex()
    card_expiry = CardExpiryIndex()


class ChronologicalIndex(LocalSecondaryIndex["LedgerEntryModel"]):
    """The ledger of one account in the order its entries were recorded."""

    class Meta:
        index_name = "chronological"
        projection = AllProjection()

    contractor_id = UnicodeAttribute(hash_key=True)
    recorded_key = UnicodeAttribute(range_key=True)


class UnbilledIndex(LocalSecondaryIndex["LedgerEntryModel"]):
    """R2, R3, R4: an account's charges not on any invoice yet, oldest first. Sparse: a
    charge is in it while ``unbilled_key`` is set; the invoice that claims it removes it.
    A local index, so that the invoice reads it with strong consistency."""

    class Meta:
        index_name = "unbilled"
        projection = AllProjection()

    contractor_id = UnicodeAttribute(hash_key=True)
    unbilled_key = UnicodeAttribute(range_key=True)


class PaymentsByDayIndex(GlobalSecondaryIndex["LedgerEntryModel"]):
    """R6: the payments the ledger recorded on a UTC day (``YYYY-MM-DD``), in the order they
    were recorded, so that the daily reconciliation reads one day's payments without a
    scan. Sparse: only ``payment`` entries carry ``payment_day``."""

    class Meta:
        index_name = "payments_by_day"
        projection = AllProjection()

    payment_day = UnicodeAttribute(hash_key=True)
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
    paused_reason = UnicodeAttribute(null=True)  # absent: budget
    reactivated_paused_since = UnicodeAttribute(null=True)
    unbilled_key = UnicodeAttribute(null=True)
    invoice_id = UnicodeAttribute(null=True)
    payment_day = UnicodeAttribute(null=True)  # a payment's UTC day (PaymentsByDayIndex)
    chronological = ChronologicalIndex()
    unbilled = UnbilledIndex()
    payments_by_day = PaymentsByDayIndex()


class InvoiceLineAttribute(MapAttribute[str, object]):
    lead_id = UnicodeAttribute()
    delivered_at = UnicodeAttribute()
    category = UnicodeAttribute()
    amount_cents = NumberAttribute()


class PaymentAttemptAttribute(MapAttribute[str, object]):
    number = NumberAttribute()
    at = UnicodeAttribute()
    outcome = UnicodeAttribute()
    payment_intent_id = UnicodeAttribute(null=True)
    decline_code = UnicodeAttribute(null=True)
    card_brand = UnicodeAttribute(null=True)
    card_last4 = UnicodeAttribute(null=True)
    card_exp_month = NumberAttribute(null=True)
    card_exp_year = NumberAttribute(null=True)
    payment_method_id = UnicodeAttribute(null=True)
    card_update = UnicodeAttribute(null=True)  # R11: the card update that made the attempt


class ContractorInvoicesIndex(GlobalSecondaryIndex["InvoiceModel"]):
    """An account's invoices, newest first when queried backwards."""

    class Meta:
        index_name = "by_contractor"
        projection = AllProjection()

    contractor_id = UnicodeAttribute(hash_key=True)
    issued_key = UnicodeAttribute(range_key=True)


class UnsettledAttemptsIndex(GlobalSecondaryIndex["InvoiceModel"]):
    """R6: the invoices whose last payment attempt is not settled (under way, or its answer
    never came), by the instant it started, so that the daily reconciliation finds those
    older than ``collection.IN_FLIGHT`` without a scan. Sparse: ``unsettled_shard`` is set
    when an attempt starts and removed when it is settled."""

    class Meta:
        index_name = "unsettled"
        projection = KeysOnlyProjection()

    unsettled_shard = UnicodeAttribute(hash_key=True)
    unsettled_since = UnicodeAttribute(range_key=True)


class InvoiceModel(_Table):
    """An invoice (R3..R6). ``draft`` while it claims its charges; from ``open`` on, its
    lines and total never change; payment attempts are appended, never rewritten."""

    class Meta(_Table.Meta):
        abstract = False

    invoice_id = UnicodeAttribute(hash_key=True)
    contractor_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    candidates = ListAttribute[str](default=list)
    issued_at = UnicodeAttribute(null=True)
    issued_key = UnicodeAttribute(null=True)
    total_cents = NumberAttribute(null=True)
    lines = ListAttribute[InvoiceLineAttribute](of=InvoiceLineAttribute, default=list)
    attempts = ListAttribute[PaymentAttemptAttribute](of=PaymentAttemptAttribute, default=list)
    email_claimed_at = UnicodeAttribute(null=True)
    email_claim_token = UnicodeAttribute(null=True)  # the claiming run's (adapters.send_claims)
    email_sent_at = UnicodeAttribute(null=True)
    # R10, R12: the non-payment pause that this invoice's payment lifted, if any.
    reactivated_at = UnicodeAttribute(null=True)
    reactivated_paused_since = UnicodeAttribute(null=True)
    # The account credit taken off the total when it was issued; absent: none.
    credit_applied_cents = NumberAttribute(null=True)
    # Set while the last attempt is not settled (UnsettledAttemptsIndex).
    unsettled_shard = UnicodeAttribute(null=True)
    unsettled_since = UnicodeAttribute(null=True)
    by_contractor = ContractorInvoicesIndex()
    unsettled = UnsettledAttemptsIndex()


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


class NoticeModel(_Table):
    """R14: one item per notice sent to a contractor, keyed by the notice's business id
    (``billing.notices``): the claim that lets one sender send it, and when it was sent."""

    class Meta(_Table.Meta):
        abstract = False

    contractor_id = UnicodeAttribute(hash_key=True)
    notice_id = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    claimed_at = UnicodeAttribute(null=True)
    claim_token = UnicodeAttribute(null=True)  # the claiming run's (adapters.send_claims)
    sent_at = UnicodeAttribute(null=True)
    message_id = UnicodeAttribute(null=True)  # SES's id of the message sent


TABLE_MODELS: dict[str, type[Model]] = {
    "accounts": AccountModel,
    "ledger": LedgerEntryModel,
    "leads": LeadModel,
    "invoices": InvoiceModel,
    "quarantine": QuarantineModel,
    "notices": NoticeModel,
}


def bind_tables(names: dict[str, str]) -> None:
    """Point each model at its physical table (``{"accounts": "Accounts-ABC", ...}``); the
    DynamoDB client is built on first use, in the environment of that moment."""
    global _client, _connection
    for key, name in names.items():
        model = TABLE_MODELS[key]
        model.Meta.table_name = name
        model._connection = None
    with _lock:
        _client = _connection = None


def connect(names: dict[str, str]) -> None:
    """``bind_tables``, and the DynamoDB client built now: what a handler does at init, so
    that its first invocation finds the client ready."""
    bind_tables(names)
    dynamodb_client()


_lock = threading.Lock()
_client: Any = None
_connection: Connection | None = None


def dynamodb_client() -> Any:
    """The process's one DynamoDB client, with PynamoDB's client settings (no parameter
    validation, its timeouts, pool and retries), from boto3's default session so that it
    shares the service data the function's other clients loaded."""
    global _client
    with _lock:
        if _client is None:
            import boto3
            from botocore.config import Config

            attempts = 1 + int(get_settings_value("max_retry_attempts"))
            _client = boto3.client(
                "dynamodb",
                config=Config(
                    parameter_validation=False,
                    connect_timeout=get_settings_value("connect_timeout_seconds"),
                    read_timeout=get_settings_value("read_timeout_seconds"),
                    max_pool_connections=get_settings_value("max_pool_connections"),
                    retries={"total_max_attempts": attempts, "mode": "standard"},
                ),
            )
        return _client


def transact_write() -> TransactWrite:
    """A write transaction across the billing tables, on the process's DynamoDB client."""
    global _connection
    if _connection is None:
        connection = Connection()
        connection._client = dynamodb_client()
        _connection = connection
    return TransactWrite(connection=_connection)
