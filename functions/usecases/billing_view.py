"""The billing state of an account as the API shows it (amounts in cents, ISO 8601 times):
``GET /me/billing`` and the answers of the routes that pay (``card_updated``) show the same."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from functions.billing.account import Account
from functions.billing.decision import roll_over
from functions.billing.invoices import FRIDAY, InvoiceKind
from functions.billing.money import Money
from functions.usecases.answers import (
    AccountManagerState,
    BillingState,
    BudgetState,
    CardState,
    ContractorBilling,
    NextInvoice,
    Pause,
)

# R3: the Friday run's local hour, as its schedules fire it (``infra/weekly_invoice.py``
# ``FRIDAY_RUN``; a test keeps the two equal).
WEEKLY_RUN_HOUR = 6


def local_iso(instant: datetime, timezone: str) -> str:
    return instant.astimezone(ZoneInfo(timezone)).isoformat()


def local_iso_or_none(instant: datetime | None, timezone: str) -> str | None:
    return None if instant is None else local_iso(instant, timezone)


def contractor_billing(account: Account, now: datetime) -> ContractorBilling:
    """R13: what the contractor sees of their own account: the billing state and the card
    on file, with whether it has expired in the account's timezone."""
    card = account.card
    return ContractorBilling(
        **dict(billing_state(account, now)),
        card=None
        if card is None
        else CardState(
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            expired=card.expired(now, account.timezone),
        ),
    )


def billing_state(account: Account, now: datetime) -> BillingState:
    """The account as of ``now``: a budget period that has ended shows as reset (R7, R8)
    even before the next lead or the daily reset writes it."""
    current, _ = roll_over(account, now)
    zone = current.timezone
    manager = current.account_manager
    return BillingState(
        contractor_id=current.contractor_id,
        business_name=current.business_name,
        billing_email=current.billing_email,
        locale=current.locale,
        timezone=zone,
        signed_up_at=local_iso(current.signed_up_at, zone),
        status="paused" if current.paused else "active",
        pauses=[
            Pause(reason=reason, since=local_iso(since, zone))
            for reason, since in sorted(current.pauses.items(), key=lambda item: item[1])
        ],
        budget=BudgetState(
            monthly_cents=current.monthly_budget.cents,
            spent_cents=current.spent.cents,
            remaining_cents=current.remaining.cents,
            period_start=local_iso(current.period.start, zone),
            next_reset=local_iso(current.period.end, zone),
        ),
        unbilled_cents=current.unbilled.cents,
        past_due_cents=current.past_due.cents,
        # Lead credits of invoiced charges, taken off the next invoice before the card pays.
        credit_cents=current.credit.cents,
        threshold_cents=current.threshold.cents,
        threshold_remaining_cents=max(current.invoice_headroom, Money(0)).cents,
        next_invoice=next_invoice(current, now),
        grace_ends_at=local_iso_or_none(current.grace_ends_at, zone),
        account_manager=AccountManagerState(
            name=manager.name, phone=manager.phone, email=manager.email
        ),
    )


def next_weekly_run(now: datetime, timezone: str) -> datetime:
    """R3: the first Friday run after ``now``: Friday 06:00 in ``timezone`` (today's when it
    is Friday before 06:00 there)."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    friday = today + timedelta(days=(FRIDAY - today.weekday()) % 7)
    run = datetime.combine(friday, time(WEEKLY_RUN_HOUR), tzinfo=zone)
    if run <= now:
        run = datetime.combine(friday + timedelta(days=7), time(WEEKLY_RUN_HOUR), tzinfo=zone)
    return run


def next_invoice(account: Account, now: datetime) -> NextInvoice:
    """R3, R4: when the next invoice comes. Unbilled charges that reached the threshold are
    invoiced at once (``threshold``, due now: the accounts stream triggers it within
    seconds); otherwise the next Friday run invoices whatever is unbilled by then
    (``weekly``; with nothing unbilled at that time, there is no invoice)."""
    if account.invoice_due or account.invoice_headroom <= Money(0):
        return NextInvoice(kind=InvoiceKind.THRESHOLD, at=local_iso(now, account.timezone))
    return NextInvoice(
        kind=InvoiceKind.WEEKLY,
        at=local_iso(next_weekly_run(now, account.timezone), account.timezone),
    )
