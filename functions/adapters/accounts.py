"""Accounts and their ledger in DynamoDB: conversions and the operator's reads and writes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pynamodb.exceptions import GetError, TransactWriteError
from pynamodb.expressions.update import Action

from functions.adapters.models import (
    AccountManagerAttribute,
    AccountModel,
    CardAttribute,
    LedgerEntryModel,
    transact_write,
)
from functions.billing.account import Account, AccountManager, Locale, PauseReason
from functions.billing.account_details import DetailChanges, change_details
from functions.billing.budget import BudgetPeriod
from functions.billing.errors import AccountAlreadyExists, AccountNotFound, StorageUnavailable
from functions.billing.invoices import Card
from functions.billing.money import Money

CONDITION_FAILED = "ConditionalCheckFailed"
RETRYABLE_CANCELLATIONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)


def instant(value: datetime) -> str:
    """A fixed-width UTC string, so that stored instants compare correctly as strings."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_instant(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _cents(value: Any) -> Money:
    return Money.parse(Decimal(str(value)) if isinstance(value, float) else value)


def account_from_item(item: AccountModel) -> Account:
    previous = None
    if item.prev_period_start and item.prev_period_end:
        previous = BudgetPeriod(
            parse_instant(item.prev_period_start), parse_instant(item.prev_period_end)
        )
    manager = item.account_manager
    account = Account(
        contractor_id=item.contractor_id,
        business_name=item.business_name,
        billing_email=item.billing_email,
        locale=Locale(item.locale),
        timezone=item.timezone,
        signed_up_at=parse_instant(item.signed_up_at),
        monthly_budget=_cents(item.monthly_budget_cents),
        period=BudgetPeriod(parse_instant(item.period_start), parse_instant(item.period_end)),
        spent=_cents(item.spent_cents),
        threshold=_cents(item.threshold_cents),
        account_manager=AccountManager(manager.name, manager.phone, manager.email),
        previous_period=previous,
        previous_remaining=(
            None if item.prev_remaining_cents is None else _cents(item.prev_remaining_cents)
        ),
        unbilled=_cents(item.unbilled_cents),
        past_due=_cents(item.past_due_cents),
        first_failure_at=parse_instant(item.first_failure_at) if item.first_failure_at else None,
        grace_ends_at=parse_instant(item.grace_ends_at) if item.grace_ends_at else None,
        invoice_due=bool(item.invoice_due),
        invoice_sequence=int(item.invoice_sequence or 0),
        budget_changes=int(item.budget_changes or 0),
        stripe_customer_id=item.stripe_customer_id,
        card=card_from_item(item.card) if item.card else None,
        credit=_cents(item.credit_cents or 0),
    )
    pauses = {
        PauseReason(reason): parse_instant(since) for reason, since in item.pauses.as_dict().items()
    }
    return account.with_pauses(pauses)


def account_from_raw(raw: dict[str, Any]) -> Account:
    """An account from an item in DynamoDB's wire format (as cancellation reasons carry it)."""
    return account_from_item(AccountModel.from_raw_data(raw))


def item_from_account(account: Account, created_at: datetime) -> AccountModel:
    manager = account.account_manager
    return AccountModel(
        account.contractor_id,
        business_name=account.business_name,
        billing_email=account.billing_email,
        locale=account.locale.value,
        timezone=account.timezone,
        signed_up_at=instant(account.signed_up_at),
        monthly_budget_cents=account.monthly_budget.cents,
        threshold_cents=account.threshold.cents,
        account_manager=AccountManagerAttribute(
            name=manager.name, phone=manager.phone, email=manager.email
        ),
        period_start=instant(account.period.start),
        period_end=instant(account.period.end),
        spent_cents=account.spent.cents,
        remaining_cents=account.remaining.cents,
        unbilled_cents=account.unbilled.cents,
        past_due_cents=account.past_due.cents,
        pauses={reason.value: instant(since) for reason, since in account.pauses.items()},
        created_at=instant(created_at),
        invoice_headroom_cents=account.invoice_headroom.cents,
        invoice_due=account.invoice_due,
        invoice_sequence=account.invoice_sequence,
        billable_timezone=account.timezone if account.unbilled else None,
        stripe_customer_id=account.stripe_customer_id,
        card=card_item(account.card) if account.card else None,
        card_expires=account.card.expiry_month if account.card else None,
        credit_cents=account.credit.cents,
    )


def card_from_item(item: CardAttribute) -> Card:
    return Card(
        payment_method_id=item.payment_method_id,
        brand=item.brand,
        last4=item.last4,
        exp_month=int(item.exp_month),
        exp_year=int(item.exp_year),
    )


def card_item(card: Card) -> CardAttribute:
    return CardAttribute(
        payment_method_id=card.payment_method_id,
        brand=card.brand,
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
    )


def ledger_entry(
    contractor_id: str, entry_id: str, kind: str, recorded_at: datetime, **fields: Any
) -> LedgerEntryModel:
    recorded = instant(recorded_at)
    return LedgerEntryModel(
        contractor_id,
        entry_id,
        kind=kind,
        recorded_at=recorded,
        recorded_key=f"{recorded}#{entry_id}",
        **fields,
    )


def period_entry(
    contractor_id: str, period: BudgetPeriod, recorded_at: datetime
) -> LedgerEntryModel:
    """R7: the start of a budget period, recorded once whoever rolls the period over."""
    return ledger_entry(
        contractor_id,
        f"period#{instant(period.start)}",
        "budget_period_started",
        recorded_at,
        period_start=instant(period.start),
    )


MAX_DETAIL_ATTEMPTS = 8


class AccountStore:
    """The operator's port to accounts: open one, read one, change its details."""

    def create(self, account: Account, now: datetime) -> None:
        try:
            with transact_write() as transaction:
                transaction.save(
                    item_from_account(account, now),
                    condition=AccountModel.contractor_id.does_not_exist(),
                )
                transaction.save(
                    period_entry(account.contractor_id, account.period, now),
                    condition=LedgerEntryModel.entry_id.does_not_exist(),
                )
        except TransactWriteError as error:
            reasons = error.cancellation_reasons
            if reasons and reasons[0] is not None and reasons[0].code == CONDITION_FAILED:
                raise AccountAlreadyExists(account.contractor_id) from error
            raise StorageUnavailable(str(error)) from error

    def get(self, contractor_id: str) -> Account:
        try:
            item = AccountModel.get(contractor_id, consistent_read=True)
        except AccountModel.DoesNotExist as error:
            raise AccountNotFound(contractor_id) from error
        except GetError as error:
            raise StorageUnavailable(str(error)) from error
        return account_from_item(item)

    def change_details(self, contractor_id: str, changes: DetailChanges, now: datetime) -> Account:
        """Change the account's details (``billing.account_details``); the account as
        changed. Nothing is written when nothing changes, so a repeated request is a no-op.

        One transaction updates the account, conditioned on the unbilled amount the
        threshold flags were computed from (a charge landing meanwhile cancels it and it
        is computed again), and records the change in the ledger
        (``details#<instant>#<digest of the new values>``: two different changes in the same
        instant are two entries, and the same change twice is no change).
        Only the detail fields are named in the update: no balance, pause or status can
        be written through it."""
        for _ in range(MAX_DETAIL_ATTEMPTS):
            snapshot = self.get(contractor_id)
            changed = change_details(snapshot, changes)
            fields = _changed_fields(snapshot, changed)
            if not fields:
                return snapshot
            manager = changed.account_manager
            actions: list[Action] = [
                AccountModel.billing_email.set(changed.billing_email),
                AccountModel.locale.set(changed.locale.value),
                AccountModel.account_manager.set(
                    AccountManagerAttribute(
                        name=manager.name, phone=manager.phone, email=manager.email
                    )
                ),
                AccountModel.threshold_cents.set(changed.threshold.cents),
                # R4: headroom and flag follow the threshold and the unbilled amount.
                AccountModel.invoice_headroom_cents.set(changed.invoice_headroom.cents),
                AccountModel.invoice_due.set(changed.invoice_due),
            ]
            try:
                with transact_write() as transaction:
                    transaction.save(
                        ledger_entry(
                            contractor_id,
                            f"details#{instant(now)}#{_digest(changed)}",
                            "details_changed",
                            now,
                            detail=",".join(fields),
                            amount_cents=changed.threshold.cents,
                        ),
                        condition=LedgerEntryModel.entry_id.does_not_exist(),
                    )
                    transaction.update(
                        AccountModel(contractor_id),
                        actions=actions,
                        condition=(AccountModel.unbilled_cents == snapshot.unbilled.cents)
                        & (AccountModel.threshold_cents == snapshot.threshold.cents),
                    )
            except TransactWriteError as error:
                reasons = error.cancellation_reasons or []
                codes = {reason.code for reason in reasons if reason is not None}
                if codes and codes <= RETRYABLE_CANCELLATIONS | {CONDITION_FAILED}:
                    continue  # a charge or another change landed: read the account again
                raise StorageUnavailable(str(error)) from error
            return self.get(contractor_id)
        raise StorageUnavailable(f"{contractor_id}: details not changed, the account kept moving")


def _digest(account: Account) -> str:
    """A short digest of an account's details, to key the ledger entry of a change."""
    manager = account.account_manager
    details = (
        account.billing_email,
        account.locale.value,
        str(account.threshold.cents),
        manager.name,
        manager.phone,
        manager.email,
    )
    return hashlib.sha256("\x1f".join(details).encode()).hexdigest()[:12]


def _changed_fields(before: Account, after: Account) -> list[str]:
    """The names of the details that differ, in the API's words."""
    names = {
        "billing_email": (before.billing_email, after.billing_email),
        "locale": (before.locale, after.locale),
        "threshold_cents": (before.threshold, after.threshold),
        "account_manager": (before.account_manager, after.account_manager),
    }
    return [name for name, (old, new) in names.items() if old != new]
