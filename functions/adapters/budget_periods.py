"""R7, R8: budget periods in DynamoDB: the roll-over write shared by every writer, the
daily reset of a timezone's accounts, and the contractor's budget changes.

A roll-over moves an account from its stored budget period to the one containing an
instant. on_lead does it lazily, in the transaction of the first lead of the new period
(``functions.adapters.lead_charges``); the daily reset does it for the accounts no lead
reached. Both build it with ``roll_over_write`` and condition it on the stored
``period_start``, and both key its ledger entries by their business ids (``period#<start>``,
``reactivation#budget#<since>``): whoever writes first wins, the other's transaction is
cancelled and changes nothing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from pynamodb.exceptions import GetError, QueryError, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.operand import Path
from pynamodb.expressions.update import Action

from functions.adapters.accounts import (
    CONDITION_FAILED,
    RETRYABLE_CANCELLATIONS,
    account_from_item,
    account_from_raw,
    instant,
    ledger_entry,
    parse_instant,
    period_entry,
)
from functions.adapters.models import AccountModel, LedgerEntryModel, transact_write
from functions.billing.account import Account, PauseReason
from functions.billing.budget import BudgetPeriod
from functions.billing.budget_change import BudgetEvent, change_budget
from functions.billing.decision import roll_over
from functions.billing.errors import AccountNotFound, StorageUnavailable
from functions.billing.events import AccountPaused, AccountReactivated
from functions.billing.money import Money

MAX_ATTEMPTS = 8
BUDGET = PauseReason.BUDGET.value


def budget_pause() -> Path:
    return cast(Path, AccountModel.pauses[BUDGET])


@dataclass(frozen=True, slots=True)
class RollOverWrite:
    """What moves an account from one budget period to the next: the condition on the
    account as it was read, the updates of its period fields, and the ledger entries.

    Spend and the budget pause are left to the caller, since a lead rolling the period
    over spends in the new period, and may pause it again, in the same update."""

    condition: Condition
    actions: list[Action]
    entries: list[LedgerEntryModel]


def roll_over_write(
    snapshot: Account,
    rolled: Account,
    reactivations: list[AccountReactivated],
    now: datetime,
) -> RollOverWrite:
    """R7, R8: the write that turns ``snapshot`` into ``rolled`` (``decision.roll_over``)."""
    assert rolled.previous_period is not None
    consecutive = rolled.previous_period == snapshot.period
    budget_paused = PauseReason.BUDGET in snapshot.pauses
    pause = budget_pause()
    # What the ended period leaves for late leads depends on its pause: assert it.
    condition = (AccountModel.period_start == instant(snapshot.period.start)) & (
        pause.exists() if budget_paused else pause.does_not_exist()
    )
    if not consecutive:
        left: Any = AccountModel.monthly_budget_cents
    elif budget_paused:
        left = 0
    else:
        left = AccountModel.remaining_cents
    start = instant(rolled.period.start)
    actions: list[Action] = [
        AccountModel.period_start.set(start),
        AccountModel.period_end.set(instant(rolled.period.end)),
        AccountModel.prev_period_start.set(instant(rolled.previous_period.start)),
        AccountModel.prev_period_end.set(instant(rolled.previous_period.end)),
        AccountModel.prev_remaining_cents.set(left),
    ]
    entries = [period_entry(snapshot.contractor_id, rolled.period, now)]
    entries += [reactivation_entry(event, start, now) for event in reactivations]
    return RollOverWrite(condition, actions, entries)


def fresh_spend() -> list[Action]:
    """A new period spends from zero: the whole budget remains."""
    return [
        AccountModel.spent_cents.set(0),
        AccountModel.remaining_cents.set(AccountModel.monthly_budget_cents),
    ]


def pause_entry(event: AccountPaused, period_start: str, now: datetime) -> LedgerEntryModel:
    return ledger_entry(
        event.contractor_id,
        f"pause#{event.reason.value}#{instant(event.since)}",
        "account_paused",
        now,
        reason=event.reason.value,
        period_start=period_start,
    )


def reactivation_entry(
    event: AccountReactivated, period_start: str, now: datetime
) -> LedgerEntryModel:
    return ledger_entry(
        event.contractor_id,
        f"reactivation#{event.reason.value}#{instant(event.paused_since)}",
        "account_reactivated",
        now,
        reason=event.reason.value,
        period_start=period_start,
    )


def recorded_with(contractor_id: str, recorded_at: str) -> list[AccountPaused | AccountReactivated]:
    """The pauses and reactivations the ledger recorded at the instant ``recorded_at``, as
    the events that announced them (same event ids), in the order they happened: what one
    request that changed the account at that instant announced besides its own fact.

    Rebuilt from the ``pause#<reason>#<since>`` and ``reactivation#<reason>#<since>`` entries
    (the ``chronological`` index, strongly consistent). A budget pause lifted by a roll-over
    started before the period the entry names, and was lifted at that period's start
    (``decision.roll_over``); any other reactivation was made when it was recorded."""
    try:
        entries = list(
            LedgerEntryModel.chronological.query(
                contractor_id,
                LedgerEntryModel.recorded_key.startswith(f"{recorded_at}#"),
                consistent_read=True,
            )
        )
    except QueryError as error:
        raise StorageUnavailable(str(error)) from error
    events: list[AccountPaused | AccountReactivated] = []
    for entry in entries:
        kind, _, rest = entry.entry_id.partition("#")
        reason_text, _, since_text = rest.partition("#")
        if kind not in ("pause", "reactivation") or not since_text:
            continue
        reason, since = PauseReason(reason_text), parse_instant(since_text)
        if kind == "pause":
            events.append(AccountPaused(contractor_id, reason, since))
            continue
        at = parse_instant(entry.recorded_at)
        if reason is PauseReason.BUDGET and entry.period_start:
            period_start = parse_instant(entry.period_start)
            if since < period_start:
                at = period_start
        events.append(AccountReactivated(contractor_id, reason, at, paused_since=since))
    return sorted(events, key=lambda event: _instant_of(event))


def rolled_over_into(contractor_id: str, period: BudgetPeriod) -> list[AccountReactivated]:
    """The reactivation that the roll-over into ``period`` made (``decision.roll_over``),
    if it lifted a budget pause, whoever rolled it over: its entry
    ``reactivation#budget#<since>`` names ``period`` and a pause that started before it.
    The latest such entries are read, newest first (a pause of this period started in it)."""
    prefix = f"reactivation#{BUDGET}#"
    start = instant(period.start)
    try:
        entries = LedgerEntryModel.query(
            contractor_id,
            LedgerEntryModel.entry_id.between(prefix, f"{prefix}{start}"),
            scan_index_forward=False,
            consistent_read=True,
            limit=2,
        )
        found = next(
            (e for e in entries if e.period_start == start and e.entry_id < prefix + start), None
        )
    except QueryError as error:
        raise StorageUnavailable(str(error)) from error
    if found is None:
        return []
    since = parse_instant(found.entry_id.removeprefix(prefix))
    return [AccountReactivated(contractor_id, PauseReason.BUDGET, period.start, paused_since=since)]


def _instant_of(event: AccountPaused | AccountReactivated) -> datetime:
    return event.since if isinstance(event, AccountPaused) else event.at


@dataclass
class _Write:
    """One transaction: ledger entries to create and one conditional update of the account."""

    condition: Condition
    actions: list[Action] = field(default_factory=list)
    entries: list[LedgerEntryModel] = field(default_factory=list)

    def execute(self, contractor_id: str) -> None:
        with transact_write() as transaction:
            for entry in self.entries:
                transaction.save(entry, condition=LedgerEntryModel.entry_id.does_not_exist())
            transaction.update(
                AccountModel(contractor_id),
                actions=self.actions,
                condition=self.condition,
                return_values="ALL_OLD",
            )


class _Conflict(Exception):
    """The account changed since it was read: read it again (``snapshot`` when known)."""

    def __init__(self, snapshot: Account | None) -> None:
        super().__init__("the account changed since it was read")
        self.snapshot = snapshot


class BudgetPeriods:
    """The port to budget periods: the accounts due for a reset, the reset itself, and
    budget changes. Retries contention with jittered backoff."""

    def __init__(
        self,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._sleep = sleep
        self._jitter = jitter

    def due(self, timezone: str, now: datetime) -> Iterator[str]:
        """The accounts of ``timezone`` whose stored budget period ended at or before
        ``now``, from the ``resets`` index: no scan, and accounts not due are not read."""
        try:
            for item in AccountModel.resets.query(
                timezone, AccountModel.period_end <= instant(now)
            ):
                yield item.contractor_id
        except QueryError as error:
            raise StorageUnavailable(str(error)) from error

    def reset(self, contractor_id: str, now: datetime) -> list[AccountReactivated]:
        """R7, R8: roll the account over to the budget period containing ``now`` and lift
        its budget pause; the reactivations it caused. Nothing when the stored period has
        not ended, which is also what a second run, or a lead that rolled over first, leaves."""
        snapshot: Account | None = None
        for attempt in range(MAX_ATTEMPTS):
            if snapshot is None:
                snapshot = self._get(contractor_id)
            try:
                return self._reset(snapshot, now)
            except _Conflict as conflict:
                snapshot = conflict.snapshot
                self._backoff(attempt)
        raise StorageUnavailable(f"{contractor_id}: no reset after {MAX_ATTEMPTS} tries")

    def change_budget(
        self, contractor_id: str, monthly_budget: Money, now: datetime
    ) -> tuple[Account, list[BudgetEvent | AccountReactivated]]:
        """R8: set the monthly budget from ``now`` on, pausing or reactivating at once; the
        account as changed and the events. A budget period that ended is rolled over first,
        so the change applies to the period the contractor is in."""
        snapshot: Account | None = None
        events: list[BudgetEvent | AccountReactivated] = []
        for attempt in range(MAX_ATTEMPTS):
            if snapshot is None:
                snapshot = self._get(contractor_id)
            try:
                if now >= snapshot.period.end:
                    events += self._reset(snapshot, now)
                    snapshot = None
                    continue
                changed, changes = self._change(snapshot, monthly_budget, now)
                # A roll-over this request made is among what a no-op finds announced.
                unique = {event.event_id: event for event in [*events, *changes]}
                return changed, list(unique.values())
            except _Conflict as conflict:
                snapshot = conflict.snapshot
                self._backoff(attempt)
        raise StorageUnavailable(f"{contractor_id}: no budget change after {MAX_ATTEMPTS} tries")

    def _reset(self, snapshot: Account, now: datetime) -> list[AccountReactivated]:
        rolled, reactivations = roll_over(snapshot, now)
        if rolled.period == snapshot.period:
            return []
        write = roll_over_write(snapshot, rolled, reactivations, now)
        actions = [*write.actions, *fresh_spend(), budget_pause().remove()]
        self._execute(snapshot.contractor_id, _Write(write.condition, actions, write.entries))
        return reactivations

    def _change(
        self, snapshot: Account, monthly_budget: Money, now: datetime
    ) -> tuple[Account, list[BudgetEvent]]:
        changed, events = change_budget(snapshot, monthly_budget, now)
        if changed.monthly_budget == snapshot.monthly_budget and not events:
            # The budget it has already: nothing to write. A repeat of the request whose
            # announcement failed (503) announces again what that change announced.
            return snapshot, self._last_change_events(snapshot)
        pause = budget_pause()
        budget_paused = snapshot.pauses.get(PauseReason.BUDGET)
        counted = AccountModel.budget_changes
        # Conditioned on the facts the change was computed from; a lead charged or another
        # change meanwhile cancels it and it is computed again.
        write = _Write(
            (AccountModel.period_start == instant(snapshot.period.start))
            & (AccountModel.spent_cents == snapshot.spent.cents)
            & (AccountModel.monthly_budget_cents == snapshot.monthly_budget.cents)
            & (
                counted == snapshot.budget_changes
                if snapshot.budget_changes
                else counted.does_not_exist()
            )
            & (pause == instant(budget_paused) if budget_paused else pause.does_not_exist()),
            [
                AccountModel.monthly_budget_cents.set(changed.monthly_budget.cents),
                AccountModel.remaining_cents.set(changed.remaining.cents),
                counted.set(changed.budget_changes),
            ],
        )
        start = instant(snapshot.period.start)
        for event in events:
            if isinstance(event, AccountPaused):
                write.actions.append(pause.set(instant(event.since)))
                write.entries.append(pause_entry(event, start, now))
            else:
                write.actions.append(pause.remove())
                write.entries.append(reactivation_entry(event, start, now))
        write.entries.append(
            ledger_entry(
                snapshot.contractor_id,
                # Numbered: two changes are two entries, even at one instant (zero-padded,
                # so that the entries of one instant list in the order they were made).
                f"budget#{changed.budget_changes:08d}",
                "budget_changed",
                now,
                amount_cents=changed.monthly_budget.cents,
                period_start=start,
            )
        )
        self._execute(snapshot.contractor_id, write)
        return changed, events

    def _last_change_events(self, account: Account) -> list[BudgetEvent]:
        """The pause or reactivation that the account's last budget change made (the one
        that set the budget it has), rebuilt from the ledger: the change's entry
        ``budget#<n>`` says when it was made, and the pauses and reactivations recorded at
        that instant are what its request announced, a roll-over it made first included;
        and the reactivation of the roll-over into the current period, which a request that
        left the budget as it was may have made."""
        # A request that rolled the period over and found the budget set already wrote no
        # change: the roll-over's reactivation is what it announced.
        events: list[BudgetEvent] = list(rolled_over_into(account.contractor_id, account.period))
        if account.budget_changes:
            entry_id = f"budget#{account.budget_changes:08d}"
            try:
                entry = LedgerEntryModel.get(account.contractor_id, entry_id, consistent_read=True)
            except LedgerEntryModel.DoesNotExist:
                entry = None
            except GetError as error:
                raise StorageUnavailable(str(error)) from error
            if entry is not None:
                events += recorded_with(account.contractor_id, entry.recorded_at)
        unique = {event.event_id: event for event in events}
        return sorted(unique.values(), key=_instant_of)

    def _execute(self, contractor_id: str, write: _Write) -> None:
        try:
            write.execute(contractor_id)
        except TransactWriteError as error:
            reasons = error.cancellation_reasons
            if error.cause_response_code != "TransactionCanceledException" or not reasons:
                raise StorageUnavailable(str(error)) from error
            account = reasons[-1]
            if account is not None and account.code == CONDITION_FAILED:
                if not account.raw_item:
                    raise AccountNotFound(contractor_id) from error
                raise _Conflict(account_from_raw(account.raw_item)) from error
            codes = {reason.code for reason in reasons if reason is not None}
            if CONDITION_FAILED in codes:
                # A ledger entry exists already: another writer's transaction committed
                # the same fact and changed the account; read it again.
                raise _Conflict(None) from error
            if codes and codes <= RETRYABLE_CANCELLATIONS:
                raise _Conflict(None) from error
            raise StorageUnavailable(f"transaction cancelled: {sorted(codes)}") from error

    def _get(self, contractor_id: str) -> Account:
        try:
            item = AccountModel.get(contractor_id, consistent_read=True)
        except AccountModel.DoesNotExist as error:
            raise AccountNotFound(contractor_id) from error
        except GetError as error:
            raise StorageUnavailable(str(error)) from error
        return account_from_item(item)

    def _backoff(self, attempt: int) -> None:
        self._sleep(min(0.02 * 2**attempt, 0.5) * (0.5 + self._jitter()))
