"""R12, R14: the announcements and notices an account change gives, read from the
accounts table's stream.

Every write of an account (a charge, a pause, a reset, a payment, a budget change) comes
as a stream record with the images before and after it. The notices are found by
comparing the two (``billing.notices.changes``), so whatever function made the change,
the contractor hears of it, and only what was stored is told. The instant of a notice is
the record's creation time, so a redelivered record gives the same notices, which the
notifier sends once.

The pauses that started and the budget pauses that a new period lifted are announced on
the bus from the same comparison (``billing.pauses.stored_transitions``), with the event
ids their writers used. The writer announces them as it stores them; this announces them
again from the stored change, so that an announcement is not lost when a writer's
transaction committed but its answer never came back: the writer's invocation failed, and
a scheduled run retried finds nothing left to change, and so nothing to announce.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from functions.adapters.accounts import account_from_raw
from functions.billing.account import Account
from functions.billing.events import AccountPaused, AccountReactivated, BillingEvent
from functions.billing.notices import Notice, changes
from functions.billing.pauses import stored_transitions


class InvalidRecord(ValueError):
    """A stream record that is not the modification of an account."""


class AnnouncementRefused(RuntimeError):
    """Neither the bus nor the unpublished events queue took an announcement: the record
    fails, and its retry announces it again."""


class Sender(Protocol):
    def send(self, notice: Notice, account: Account, now: datetime) -> bool: ...


class Publisher(Protocol):
    """``adapters.event_bus.EventBus``: the positions of the events not taken."""

    def publish(self, events: Sequence[BillingEvent]) -> list[int]: ...


@dataclass(frozen=True, slots=True)
class AccountChange:
    before: Account | None
    after: Account
    at: datetime

    @classmethod
    def parse(cls, record: Mapping[str, Any]) -> AccountChange:
        stream = record.get("dynamodb")
        if not isinstance(stream, Mapping) or not isinstance(stream.get("NewImage"), Mapping):
            raise InvalidRecord("the record carries no new image of an account")
        created = stream.get("ApproximateCreationDateTime")
        if not isinstance(created, int | float | str):
            raise InvalidRecord("the record carries no creation time")
        old = stream.get("OldImage")
        try:
            return cls(
                before=account_from_raw(dict(old)) if isinstance(old, Mapping) else None,
                after=account_from_raw(dict(stream["NewImage"])),
                at=datetime.fromtimestamp(int(float(created)), UTC),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise InvalidRecord(f"not an account image: {error!r}") from error

    def notices(self) -> list[Notice]:
        return changes(self.before, self.after, self.at)

    def announcements(self) -> list[AccountPaused | AccountReactivated]:
        return stored_transitions(self.before, self.after)


def notify(record: Mapping[str, Any], sender: Sender, bus: Publisher, now: datetime) -> int:
    """Announce the pauses and reactivations of one stream record, then send its notices;
    how many notices were sent (not sent before)."""
    change = AccountChange.parse(record)
    announcements = change.announcements()
    if announcements and (refused := bus.publish(announcements)):
        raise AnnouncementRefused(
            f"not announced: {[announcements[position].event_id for position in refused]}"
        )
    return sum(1 for notice in change.notices() if sender.send(notice, change.after, now))
