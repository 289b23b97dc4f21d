"""R2, R7, R8, R10: settle a delivered lead with one conditional DynamoDB transaction.

The happy path is a single TransactWriteItems with no read before it: put the lead's
ledger entry (it must not exist) and update the account (it must exist, be in the lead's
budget period, hold no pause, have no grace period that ended unpaid by the lead's
instant (R10), and have more budget left than the price). When DynamoDB cancels it, the
cancellation reasons say why: the ledger entry exists (a duplicate), or the account's
conditions failed, in which case the reason carries the account as it is
(``ReturnValuesOnConditionCheckFailure=ALL_OLD``). The domain then decides on that
snapshot (roll the period over, charge exactly up to the budget and pause, reject and
pause, reject because paused) and the next transaction is conditioned on exactly the
facts that decision relied on, so a concurrent change cancels it instead of overspending.

R2: every transaction also checks that the lead is not quarantined (``quarantine``): a
lead refused once (invalid, dated in the future, for an unknown contractor) is never
charged by a later delivery of its record, when that instant has come or the account
exists. The check costs no request and no read; when it cancels the transaction, its
cancellation reason carries the quarantine item, whose rejection is announced again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action

from functions.adapters.accounts import (
    CONDITION_FAILED,
    RETRYABLE_CANCELLATIONS,
    account_from_raw,
    instant,
    ledger_entry,
    parse_instant,
)
from functions.adapters.budget_periods import (
    fresh_spend,
    pause_entry,
    roll_over_write,
)
from functions.adapters.models import (
    AccountModel,
    LedgerEntryModel,
    QuarantineModel,
    transact_write,
)
from functions.adapters.quarantine import (
    Quarantined,
    check_returning_item,
    lead_entry_id,
    lead_quarantine_id,
    quarantined_from_raw,
)
from functions.billing.account import Account, PauseReason
from functions.billing.decision import (
    LeadDecision,
    Outcome,
    Slot,
    apply_decision,
    decide,
    roll_over,
)
from functions.billing.errors import AccountNotFound, StorageUnavailable
from functions.billing.events import (
    AccountPaused,
    AccountReactivated,
    BillingEvent,
    LeadCharged,
    LeadRejected,
    RejectReason,
)
from functions.billing.leads import Lead
from functions.billing.money import Money

MAX_ATTEMPTS = 8
BUDGET = PauseReason.BUDGET.value
NON_PAYMENT = PauseReason.NON_PAYMENT.value


@dataclass(frozen=True, slots=True)
class Settlement:
    """What became of a lead: the events to announce, and whether it was seen before.
    ``quarantined``: the quarantine that decided the lead before (it was not charged)."""

    events: tuple[BillingEvent, ...]
    duplicate: bool = False
    quarantined: Quarantined | None = None

    @property
    def charged(self) -> bool:
        return any(isinstance(event, LeadCharged) for event in self.events)


@dataclass
class _Plan:
    """One transaction: ledger entries to create and the account's update or check."""

    lead_entry: LedgerEntryModel
    other_entries: list[LedgerEntryModel] = field(default_factory=list)
    condition: Condition = field(default_factory=lambda: AccountModel.contractor_id.exists())
    actions: list[Action] = field(default_factory=list)
    events: tuple[BillingEvent, ...] = ()

    def require(self, condition: Condition) -> None:
        self.condition = self.condition & condition

    def execute(self, contractor_id: str) -> None:
        with transact_write() as transaction:
            check_returning_item(
                transaction,
                QuarantineModel,
                lead_quarantine_id(self.lead_id),
                condition=QuarantineModel.quarantine_id.does_not_exist(),
            )
            if not self.actions:
                check_returning_item(
                    transaction, AccountModel, contractor_id, condition=self.condition
                )
            transaction.save(
                self.lead_entry,
                condition=LedgerEntryModel.entry_id.does_not_exist(),
                return_values="ALL_OLD",
            )
            for entry in self.other_entries:
                transaction.save(entry, condition=LedgerEntryModel.entry_id.does_not_exist())
            if self.actions:
                transaction.update(
                    AccountModel(contractor_id),
                    actions=self.actions,
                    condition=self.condition,
                    return_values="ALL_OLD",
                )

    @property
    def lead_id(self) -> str:
        return str(self.lead_entry.lead_id)

    # Condition checks come first in the transaction (the quarantine's, then the account's
    # when it is not updated), then puts (the lead's entry first), then updates.
    quarantine_index = 0

    @property
    def lead_entry_index(self) -> int:
        return 1 if self.actions else 2

    @property
    def account_index(self) -> int:
        return 2 + len(self.other_entries) if self.actions else 1


def _pause(reason: str) -> Path:
    return cast(Path, AccountModel.pauses[reason])


class LeadCharges:
    """Settles leads against accounts. Retries contention with jittered backoff."""

    def __init__(
        self,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._sleep = sleep
        self._jitter = jitter

    def settle(self, lead: Lead, now: datetime) -> Settlement:
        """Charge or reject ``lead``; raises ``AccountNotFound``, ``InvalidLead`` (a lead
        older than the previous budget period) or ``StorageUnavailable``."""
        snapshot: Account | None = None
        for attempt in range(MAX_ATTEMPTS):
            plan = _optimistic_plan(lead, now) if snapshot is None else _plan(snapshot, lead, now)
            try:
                plan.execute(lead.contractor_id)
                return Settlement(plan.events)
            except TransactWriteError as error:
                reasons = error.cancellation_reasons
                if error.cause_response_code != "TransactionCanceledException" or not reasons:
                    raise StorageUnavailable(str(error)) from error
                mine = reasons[plan.lead_entry_index]
                if mine is not None and mine.code == CONDITION_FAILED:
                    return replay(mine.raw_item or {})
                kept = reasons[plan.quarantine_index]
                if kept is not None and kept.code == CONDITION_FAILED and kept.raw_item:
                    return _quarantined_before(quarantined_from_raw(kept.raw_item))
                account = reasons[plan.account_index]
                if account is not None and account.code == CONDITION_FAILED:
                    if not account.raw_item:
                        raise AccountNotFound(lead.contractor_id) from error
                    snapshot = account_from_raw(account.raw_item)
                    continue
                codes = {reason.code for reason in reasons if reason is not None}
                if codes and codes <= RETRYABLE_CANCELLATIONS:
                    self._sleep(min(0.02 * 2**attempt, 0.5) * (0.5 + self._jitter()))
                    continue
                raise StorageUnavailable(f"transaction cancelled: {sorted(codes)}") from error
        raise StorageUnavailable(f"lead {lead.lead_id}: no settlement after {MAX_ATTEMPTS} tries")


def _charge_entry(lead: Lead, now: datetime) -> LedgerEntryModel:
    entry = ledger_entry(
        lead.contractor_id,
        lead_entry_id(lead.lead_id),
        "charge",
        now,
        amount_cents=lead.price.cents,
        lead_id=lead.lead_id,
        category=lead.category,
        delivered_at=instant(lead.delivered_at),
    )
    entry.unbilled_key = entry.recorded_key  # unbilled until an invoice claims it
    return entry


def _bill(plan: _Plan, price: int, reaches_threshold: bool | None) -> None:
    """R3, R4: a charge adds to the unbilled charges, puts the account among the billable
    ones of its timezone, and says whether it reaches the invoice threshold. ``None``: the
    happy path, which requires that it does not."""
    headroom = AccountModel.invoice_headroom_cents
    plan.require(headroom <= price if reaches_threshold else headroom > price)
    plan.actions += [
        AccountModel.unbilled_cents.add(price),
        headroom.set(headroom - price),
        AccountModel.billable_timezone.set(AccountModel.timezone),
    ]
    if reaches_threshold:
        plan.actions.append(AccountModel.invoice_due.set(True))


def _no_pause() -> Condition:
    return _pause(BUDGET).does_not_exist() & _pause(NON_PAYMENT).does_not_exist()


def _grace_not_ended(at: str) -> Condition:
    """R9, R10: no grace period ended unpaid at or before the lead's instant ``at``."""
    return (
        AccountModel.grace_ends_at.does_not_exist()
        | (AccountModel.grace_ends_at > at)
        | (AccountModel.past_due_cents <= 0)
    )


def _grace_ended(at: str, grace_ends_at: str) -> Condition:
    """R10: the grace period the decision saw ended unpaid at or before ``at``, and no
    non-payment pause holds yet."""
    return (
        (AccountModel.grace_ends_at == grace_ends_at)
        & (AccountModel.grace_ends_at <= at)
        & (AccountModel.past_due_cents > 0)
        & _pause(NON_PAYMENT).does_not_exist()
    )


def _optimistic_plan(lead: Lead, now: datetime) -> _Plan:
    """The happy path, decided without a read: the conditions are the whole decision."""
    at, price = instant(lead.delivered_at), lead.price.cents
    plan = _Plan(_charge_entry(lead, now))
    plan.require(AccountModel.period_start <= at)
    plan.require(AccountModel.period_end > at)
    plan.require(_no_pause())
    plan.require(_grace_not_ended(at))
    plan.require(AccountModel.remaining_cents > price)
    plan.actions = [
        AccountModel.spent_cents.add(price),
        AccountModel.remaining_cents.set(AccountModel.remaining_cents - price),
    ]
    _bill(plan, price, reaches_threshold=None)
    plan.events = (
        LeadCharged(lead.contractor_id, lead.lead_id, lead.price, lead.category, lead.delivered_at),
    )
    return plan


def _plan(snapshot: Account, lead: Lead, now: datetime) -> _Plan:
    """A transaction carrying out the domain's decision on ``snapshot``."""
    rolled, reactivations = roll_over(snapshot, lead.delivered_at)
    decision = decide(rolled, lead)
    _, decided_events = apply_decision(rolled, lead, decision, now)
    events: tuple[BillingEvent, ...] = (*reactivations, *decided_events)
    price = lead.price.cents

    if decision.outcome is Outcome.CHARGE:
        entry = _charge_entry(lead, now)
    else:
        assert decision.reason is not None
        entry = ledger_entry(
            lead.contractor_id,
            lead_entry_id(lead.lead_id),
            "lead_rejected",
            now,
            lead_id=lead.lead_id,
            category=lead.category,
            delivered_at=instant(lead.delivered_at),
            reason=decision.reason.value,
            detail=decision.detail,
        )
    plan = _Plan(entry, events=events)

    rolled_over = rolled.period != snapshot.period
    if rolled_over:
        _roll_over(plan, snapshot, rolled, now, reactivations)
        available = AccountModel.monthly_budget_cents
    else:
        plan.require(AccountModel.period_start == instant(snapshot.period.start))
        available = AccountModel.remaining_cents

    delivered = instant(lead.delivered_at)
    if decision.pauses_for_non_payment:
        assert snapshot.grace_ends_at is not None
        plan.require(_grace_ended(delivered, instant(snapshot.grace_ends_at)))
        if rolled_over:
            plan.actions += fresh_spend()
    else:
        if decision.reason is not RejectReason.PAUSED:
            plan.require(_grace_not_ended(delivered))
        if decision.slot is Slot.CURRENT:
            _current_period(plan, decision, price, available, rolled_over)
        else:
            _previous_period(plan, decision, snapshot, price)

    paused = [event for event in decided_events if isinstance(event, AccountPaused)]
    if rolled_over and not any(event.reason is PauseReason.BUDGET for event in paused):
        plan.actions.append(_pause(BUDGET).remove())
    for event in paused:
        since = instant(event.since)
        plan.actions.append(_pause(event.reason.value).set(since))
        plan.lead_entry.paused_since = since
        plan.lead_entry.paused_reason = event.reason.value
        plan.other_entries.append(pause_entry(event, instant(rolled.period.start), now))
    return plan


def _roll_over(
    plan: _Plan,
    snapshot: Account,
    rolled: Account,
    now: datetime,
    reactivations: list[AccountReactivated],
) -> None:
    """R7, R8: move the account to the new period in the same transaction as the lead,
    with the write the daily reset uses too."""
    write = roll_over_write(snapshot, rolled, reactivations, now)
    plan.require(write.condition)
    plan.actions += write.actions
    plan.other_entries += write.entries
    plan.lead_entry.period_start = instant(rolled.period.start)
    for event in reactivations:
        plan.lead_entry.reactivated_paused_since = instant(event.paused_since)


def _current_period(
    plan: _Plan, decision: LeadDecision, price: int, available: Any, rolled_over: bool
) -> None:
    # After a roll-over the budget pause is gone and the whole budget is available.
    unpaused: Condition = _pause(NON_PAYMENT).does_not_exist()
    if not rolled_over:
        unpaused = _no_pause()
    if decision.outcome is Outcome.CHARGE:
        plan.require(unpaused)
        plan.require(available == price if decision.pauses_for_budget else available > price)
        spent = AccountModel.spent_cents
        plan.actions += [
            spent.set(price) if rolled_over else spent.add(price),
            AccountModel.remaining_cents.set(available - price),
        ]
        _bill(plan, price, decision.reaches_threshold)
    elif decision.reason is RejectReason.BUDGET:
        plan.require(unpaused)
        plan.require(available < price)
        if rolled_over:
            plan.actions += fresh_spend()
    else:  # paused
        plan.require(~unpaused)
        if rolled_over:
            plan.actions += fresh_spend()


def _previous_period(plan: _Plan, decision: LeadDecision, snapshot: Account, price: int) -> None:
    """A late lead, delivered before the last reset: charged to the period it belongs to."""
    assert snapshot.previous_period is not None
    plan.require(AccountModel.prev_period_start == instant(snapshot.previous_period.start))
    unpaused = _pause(NON_PAYMENT).does_not_exist()
    if decision.outcome is Outcome.CHARGE:
        plan.require(unpaused)
        plan.require(AccountModel.prev_remaining_cents >= price)
        plan.actions += [
            AccountModel.prev_remaining_cents.set(AccountModel.prev_remaining_cents - price),
        ]
        _bill(plan, price, decision.reaches_threshold)
    elif decision.reason is RejectReason.BUDGET:
        plan.require(unpaused)
        plan.require(AccountModel.prev_remaining_cents < price)
    else:
        plan.require(~unpaused)


def _quarantined_before(kept: Quarantined) -> Settlement:
    """R2: a lead quarantined by an earlier delivery stays refused; its rejection is
    announced again as it was the first time."""
    events: tuple[BillingEvent, ...] = ()
    if kept.lead_id is not None:
        events = (
            LeadRejected(kept.contractor_id, kept.lead_id, RejectReason(kept.reason), kept.detail),
        )
    return Settlement(events, duplicate=True, quarantined=kept)


def replay(raw: dict[str, Any]) -> Settlement:
    """The events a lead's first settlement announced, rebuilt from its ledger entry (R2)."""
    entry = LedgerEntryModel.from_raw_data(raw)
    contractor_id = entry.contractor_id
    lead_id = entry.lead_id or entry.entry_id.removeprefix("lead#")
    events: list[BillingEvent] = []
    if entry.reactivated_paused_since and entry.period_start:
        events.append(
            AccountReactivated(
                contractor_id,
                PauseReason.BUDGET,
                parse_instant(entry.period_start),
                paused_since=parse_instant(entry.reactivated_paused_since),
            )
        )
    if entry.kind == "charge":
        events.append(
            LeadCharged(
                contractor_id,
                lead_id,
                Money.parse(int(entry.amount_cents)),
                entry.category or "",
                parse_instant(entry.delivered_at or entry.recorded_at),
            )
        )
    else:
        events.append(
            LeadRejected(
                contractor_id, lead_id, RejectReason(entry.reason or "invalid"), entry.detail or ""
            )
        )
    if entry.paused_since:
        reason = PauseReason(entry.paused_reason or BUDGET)
        events.append(AccountPaused(contractor_id, reason, parse_instant(entry.paused_since)))
    return Settlement(tuple(events), duplicate=True)
