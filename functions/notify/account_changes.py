"""R14: the notices an account change gives, read from the accounts table's stream.

Every write of an account (a charge, a pause, a reset, a payment, a budget change) comes
as a stream record with the images before and after it. The notices are found by
comparing the two (``billing.notices.changes``), so whatever function made the change,
the contractor hears of it, and only what was stored is told. The instant of a notice is
the record's creation time, so a redelivered record gives the same notices, which the
notifier sends once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from functions.adapters.accounts import account_from_raw
from functions.billing.account import Account
from functions.billing.notices import Notice, changes


class InvalidRecord(ValueError):
    """A stream record that is not the modification of an account."""


class Sender(Protocol):
    def send(self, notice: Notice, account: Account, now: datetime) -> bool: ...


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


def notify(record: Mapping[str, Any], sender: Sender, now: datetime) -> int:
    """Send the notices of one stream record; how many were sent (not sent before)."""
    change = AccountChange.parse(record)
    return sum(1 for notice in change.notices() if sender.send(notice, change.after, now))
