"""Lead credits in DynamoDB: one conditional transaction per credit, once per lead.

The domain (``billing.credits``) decides on the account and the charge as read; the
credit is then written in one ``TransactWriteItems`` conditioned on exactly the facts that
decision used, so a charge, an invoice or another credit landing meanwhile cancels it and
it is decided again on what is stored then:

- put the ledger entry ``credit#<lead_id>`` (condition: it does not exist), so a lead is
  credited at most once, whatever the retries and concurrent requests; a request that finds
  it answers with that first credit;
- for a charge not invoiced yet, remove the charge's ``unbilled_key`` (condition: it is
  still set and no invoice claimed the charge), so the next invoice does not list it; an
  invoice that claimed it first makes the credit an account credit instead, and a credit
  that removed it first makes the invoice's claim fail, leaving the charge off that invoice;
- update the account: the unbilled amount, the threshold headroom and flag and the billable
  index (R3, R4), or the account credit; the spend and remaining budget of the current
  period and a budget pause that lifts (R8), with its own ledger entry.

Removing ``unbilled_key`` edits no history. It is not a fact of the charge but the charge's
membership of the sparse ``unbilled`` index, the work list of the next invoice, and an
invoice that claims a charge removes it the same way (``invoicing.InvoiceStore._claim``).
The charge's amount, lead, instant and category stay as recorded, and the ledger tells
why it left the list: the ``credit#<lead_id>`` entry beside it. Nothing else is updated in
the ledger; invoices already issued are never touched (R5).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from pynamodb.exceptions import GetError, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action

from functions.adapters.accounts import (
    CONDITION_FAILED,
    RETRYABLE_CANCELLATIONS,
    account_from_item,
    instant,
    ledger_entry,
    parse_instant,
)
from functions.adapters.budget_periods import BudgetPeriods, reactivation_entry, recorded_with
from functions.adapters.lead_charges import lead_entry_id
from functions.adapters.models import AccountModel, LedgerEntryModel, transact_write
from functions.billing.account import Account, PauseReason
from functions.billing.credits import (
    Charge,
    Credited,
    CreditKind,
    LeadCredit,
    LeadNotCharged,
    LeadNotFound,
    credit_charge,
    validate_reason,
)
from functions.billing.errors import AccountNotFound, StorageUnavailable
from functions.billing.events import AccountReactivated, BillingEvent
from functions.billing.money import Money

MAX_ATTEMPTS = 8
CREDIT_KIND = "lead_credited"


def credit_entry_id(lead_id: str) -> str:
    return f"credit#{lead_id}"


@dataclass(frozen=True, slots=True)
class CreditResult:
    """A credit request's outcome: the lead's credit, whether this request made it, the
    account after it (when it did) and the events to announce. A request that finds the
    credit made already gets the first credit and its events again (same event ids)."""

    credit: LeadCredit
    created: bool
    events: tuple[BillingEvent, ...]
    account: Account | None = None


class _Conflict(Exception):
    """The account or the charge changed since they were read: decide again."""


class LeadCredits:
    """The port to lead credits. Retries contention with jittered backoff."""

    def __init__(
        self,
        periods: BudgetPeriods | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._periods = periods or BudgetPeriods()
        self._sleep = sleep
        self._jitter = jitter

    def credit(self, contractor_id: str, lead_id: str, reason: str, now: datetime) -> CreditResult:
        """Credit the charge of ``lead_id`` on ``contractor_id``'s account, or find its credit.

        Raises ``LeadNotFound`` (no such lead in the account's ledger), ``LeadNotCharged``
        (the lead was rejected), ``InvalidCredit``, ``AccountNotFound`` or
        ``StorageUnavailable``."""
        reason = validate_reason(reason)
        rolled_over: list[BillingEvent] = []
        for attempt in range(MAX_ATTEMPTS):
            recorded = self.recorded(contractor_id, lead_id)
            if recorded is not None:
                return CreditResult(recorded, False, (*rolled_over, *_announced_with(recorded)))
            charge, entry = self._charge(contractor_id, lead_id)
            account = self._account(contractor_id)
            if now >= account.period.end:
                # The credit belongs to the period the account is in now (R7): roll it
                # over first, as the daily reset would, and announce what that lifted.
                rolled_over += self._periods.reset(contractor_id, now)
                continue
            credited = credit_charge(account, charge, reason, now)
            try:
                _write(account, entry, credited, now)
            except _Conflict:
                self._sleep(min(0.02 * 2**attempt, 0.5) * (0.5 + self._jitter()))
                continue
            credit = credited.credit
            return CreditResult(credit, True, (*rolled_over, *credit.events()), credited.account)
        raise StorageUnavailable(f"lead {lead_id}: not credited after {MAX_ATTEMPTS} tries")

    def recorded(self, contractor_id: str, lead_id: str) -> LeadCredit | None:
        """The lead's credit, if it was credited."""
        entry = _get_entry(contractor_id, credit_entry_id(lead_id))
        return None if entry is None else credit_from_entry(entry)

    def _charge(self, contractor_id: str, lead_id: str) -> tuple[Charge, LedgerEntryModel]:
        entry = _get_entry(contractor_id, lead_entry_id(lead_id))
        if entry is None:
            raise LeadNotFound(contractor_id, lead_id)
        if entry.kind != "charge":
            raise LeadNotCharged(lead_id, entry.reason or entry.kind)
        charge = Charge(
            contractor_id=contractor_id,
            lead_id=lead_id,
            amount=Money(int(entry.amount_cents)),
            delivered_at=parse_instant(entry.delivered_at or entry.recorded_at),
            invoice_id=entry.invoice_id,
        )
        return charge, entry

    def _account(self, contractor_id: str) -> Account:
        try:
            return account_from_item(AccountModel.get(contractor_id, consistent_read=True))
        except AccountModel.DoesNotExist as error:
            raise AccountNotFound(contractor_id) from error
        except GetError as error:
            raise StorageUnavailable(str(error)) from error


def _announced_with(credit: LeadCredit) -> list[BillingEvent]:
    """What the request that made ``credit`` announced, rebuilt from the ledger: the
    credit's events, after the reactivation of a budget period that request rolled over
    first (recorded at the same instant; ``recorded_with``). Same event ids."""
    own = credit.events()
    ids = {event.event_id for event in own}
    before = [
        event
        for event in recorded_with(credit.contractor_id, instant(credit.credited_at))
        if event.event_id not in ids
    ]
    return [*before, *own]


def _get_entry(contractor_id: str, entry_id: str) -> LedgerEntryModel | None:
    try:
        return LedgerEntryModel.get(contractor_id, entry_id, consistent_read=True)
    except LedgerEntryModel.DoesNotExist:
        return None
    except GetError as error:
        raise StorageUnavailable(str(error)) from error


def _budget_pause() -> Path:
    return cast(Path, AccountModel.pauses[PauseReason.BUDGET.value])


def _write(account: Account, charge: LedgerEntryModel, credited: Credited, now: datetime) -> None:
    """One transaction: the credit's entries, the charge leaving the unbilled list, and the
    account, each conditioned on what ``credited`` was computed from."""
    credit, changed = credited.credit, credited.account
    contractor_id = account.contractor_id
    period_start = instant(account.period.start)
    entries = [
        ledger_entry(
            contractor_id,
            credit_entry_id(credit.lead_id),
            CREDIT_KIND,
            now,
            amount_cents=credit.amount.cents,
            lead_id=credit.lead_id,
            category=charge.category,
            delivered_at=charge.delivered_at,
            reason=credit.reason,
            detail=credit.kind.value,
            invoice_id=credit.invoice_id,
            period_start=period_start if credit.budget_returned else None,
            reactivated_paused_since=(
                instant(credit.reactivated_paused_since)
                if credit.reactivated_paused_since
                else None
            ),
        )
    ]
    condition: Condition = AccountModel.period_start == period_start
    actions: list[Action] = []
    if credit.budget_returned:
        # R8: the spend of the current period drops; a budget pause lifts below the budget.
        pause = _budget_pause()
        since = account.pauses.get(PauseReason.BUDGET)
        condition &= (AccountModel.spent_cents == account.spent.cents) & (
            AccountModel.monthly_budget_cents == account.monthly_budget.cents
        )
        condition &= pause == instant(since) if since else pause.does_not_exist()
        actions += [
            AccountModel.spent_cents.set(changed.spent.cents),
            AccountModel.remaining_cents.set(changed.remaining.cents),
        ]
        if credit.reactivated_paused_since is not None:
            actions.append(pause.remove())
            event = AccountReactivated(
                contractor_id,
                PauseReason.BUDGET,
                now,
                paused_since=credit.reactivated_paused_since,
            )
            entries.append(reactivation_entry(event, period_start, now))
    unbilled = credit.kind is CreditKind.UNBILLED
    if unbilled:
        # R3, R4: the unbilled amount, and with it the headroom, the flag of a threshold
        # invoice and the account's place in the billable index.
        condition &= (AccountModel.unbilled_cents == account.unbilled.cents) & (
            AccountModel.threshold_cents == account.threshold.cents
        )
        actions += [
            AccountModel.unbilled_cents.set(changed.unbilled.cents),
            AccountModel.invoice_headroom_cents.set(changed.invoice_headroom.cents),
            AccountModel.invoice_due.set(changed.invoice_due),
        ]
        if not changed.unbilled:
            actions.append(AccountModel.billable_timezone.remove())
    else:
        actions.append(AccountModel.credit_cents.add(credit.amount.cents))
    try:
        with transact_write() as transaction:
            for entry in entries:
                transaction.save(entry, condition=LedgerEntryModel.entry_id.does_not_exist())
            if unbilled:
                transaction.update(
                    LedgerEntryModel(contractor_id, charge.entry_id),
                    actions=[LedgerEntryModel.unbilled_key.remove()],
                    condition=LedgerEntryModel.unbilled_key.exists()
                    & LedgerEntryModel.invoice_id.does_not_exist(),
                )
            transaction.update(AccountModel(contractor_id), actions=actions, condition=condition)
    except TransactWriteError as error:
        reasons = error.cancellation_reasons
        if error.cause_response_code != "TransactionCanceledException" or not reasons:
            raise StorageUnavailable(str(error)) from error
        codes = {reason.code for reason in reasons if reason is not None}
        # The credit entry exists (credited concurrently), an invoice claimed the charge,
        # or the account moved: the next attempt reads what is stored and decides again.
        if codes and codes <= RETRYABLE_CANCELLATIONS | {CONDITION_FAILED}:
            raise _Conflict() from error
        raise StorageUnavailable(f"transaction cancelled: {sorted(codes)}") from error


def credit_from_entry(entry: LedgerEntryModel) -> LeadCredit:
    """A credit as its ledger entry records it."""
    return LeadCredit(
        contractor_id=entry.contractor_id,
        lead_id=entry.lead_id or entry.entry_id.removeprefix("credit#"),
        amount=Money(int(entry.amount_cents)),
        kind=CreditKind(entry.detail),
        reason=entry.reason or "",
        credited_at=parse_instant(entry.recorded_at),
        invoice_id=entry.invoice_id,
        budget_returned=entry.period_start is not None,
        reactivated_paused_since=(
            parse_instant(entry.reactivated_paused_since)
            if entry.reactivated_paused_since
            else None
        ),
    )
