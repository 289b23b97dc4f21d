"""R9, R10: the accounts whose grace period runs, their past-due invoices, and the
non-payment pause at the end of the grace period, in DynamoDB.

The accounts come from the sparse ``grace`` index (``models.GraceIndex``): no scan, and
accounts without a grace period are not read. The pause is one transaction over the
account and its ledger entry ``pause#non_payment#<grace end>``, conditioned on the account
as read; on_lead pauses with the same entry when a lead arrives first, so whoever writes
first wins and the other changes nothing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from datetime import datetime

from pynamodb.exceptions import GetError, QueryError, TransactWriteError

from functions.adapters.accounts import (
    CONDITION_FAILED,
    RETRYABLE_CANCELLATIONS,
    account_from_item,
    instant,
)
from functions.adapters.budget_periods import pause_entry
from functions.adapters.invoicing import GRACE_SHARD, InvoiceStore, non_payment_pause
from functions.adapters.models import AccountModel, LedgerEntryModel, transact_write
from functions.billing.account import Account
from functions.billing.errors import AccountNotFound, StorageUnavailable
from functions.billing.events import AccountPaused
from functions.billing.grace import pauses_for_non_payment
from functions.billing.invoices import Invoice
from functions.billing.pauses import Trigger, apply

MAX_ATTEMPTS = 8


class GracePeriods:
    """The port to grace periods. Retries contention with jittered backoff."""

    def __init__(
        self,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._sleep = sleep
        self._jitter = jitter

    def running(self) -> Iterator[str]:
        """The accounts with a grace period, the earliest end first."""
        try:
            for item in AccountModel.grace.query(GRACE_SHARD):
                yield item.contractor_id
        except QueryError as error:
            raise StorageUnavailable(str(error)) from error

    def past_due_invoices(self, contractor_id: str) -> list[Invoice]:
        """The account's past-due invoices, oldest first, from the ``by_contractor`` index."""
        return InvoiceStore().past_due(contractor_id)

    def get(self, contractor_id: str) -> Account:
        try:
            item = AccountModel.get(contractor_id, consistent_read=True)
        except AccountModel.DoesNotExist as error:
            raise AccountNotFound(contractor_id) from error
        except GetError as error:
            raise StorageUnavailable(str(error)) from error
        return account_from_item(item)

    def pause(self, contractor_id: str, now: datetime) -> AccountPaused | None:
        """R10: pause the account for non-payment from its grace end, when the grace period
        ended by ``now`` with something past due; the pause, or None when there is none to
        make (paid, not ended yet, or paused already)."""
        for attempt in range(MAX_ATTEMPTS):
            account = self.get(contractor_id)
            if not pauses_for_non_payment(account, now):
                return None
            assert account.grace_ends_at is not None
            _, event = apply(account, Trigger.GRACE_ENDED_UNPAID, account.grace_ends_at)
            assert isinstance(event, AccountPaused)
            ends = instant(account.grace_ends_at)
            pause = non_payment_pause()
            try:
                with transact_write() as transaction:
                    transaction.save(
                        pause_entry(event, instant(account.period.start), now),
                        condition=LedgerEntryModel.entry_id.does_not_exist(),
                    )
                    transaction.update(
                        AccountModel(contractor_id),
                        actions=[pause.set(ends)],
                        condition=(AccountModel.grace_ends_at == ends)
                        & (AccountModel.past_due_cents > 0)
                        & pause.does_not_exist(),
                    )
            except TransactWriteError as error:
                reasons = error.cancellation_reasons or []
                codes = {reason.code for reason in reasons if reason is not None}
                if codes and codes <= RETRYABLE_CANCELLATIONS | {CONDITION_FAILED}:
                    # Paused by a lead meanwhile, or paid: the next read says which.
                    self._sleep(min(0.02 * 2**attempt, 0.5) * (0.5 + self._jitter()))
                    continue
                raise StorageUnavailable(str(error)) from error
            return event
        raise StorageUnavailable(f"{contractor_id}: no pause after {MAX_ATTEMPTS} tries")
