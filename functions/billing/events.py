"""Facts the billing announces to the lead distribution system and to the contractor.

Each event carries an ``event_id`` derived from its business id, so a consumer that sees
the same fact twice (deliveries are at-least-once) can tell it is the same fact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from functions.billing.account import PauseReason
from functions.billing.money import Money


class RejectReason(StrEnum):
    BUDGET = "budget"
    PAUSED = "paused"
    INVALID = "invalid"
    UNKNOWN_CONTRACTOR = "unknown_contractor"


@dataclass(frozen=True, slots=True)
class LeadCharged:
    contractor_id: str
    lead_id: str
    amount: Money
    category: str
    delivered_at: datetime

    @property
    def event_id(self) -> str:
        return f"LeadCharged:{self.lead_id}"


@dataclass(frozen=True, slots=True)
class LeadRejected:
    contractor_id: str | None
    lead_id: str | None
    reason: RejectReason
    detail: str

    @property
    def event_id(self) -> str:
        return f"LeadRejected:{self.lead_id}"


@dataclass(frozen=True, slots=True)
class AccountPaused:
    contractor_id: str
    reason: PauseReason
    since: datetime

    @property
    def event_id(self) -> str:
        return f"AccountPaused:{self.contractor_id}:{self.reason}:{self.since.isoformat()}"


@dataclass(frozen=True, slots=True)
class AccountReactivated:
    contractor_id: str
    reason: PauseReason
    at: datetime
    paused_since: datetime

    @property
    def event_id(self) -> str:
        return (
            f"AccountReactivated:{self.contractor_id}:{self.reason}:{self.paused_since.isoformat()}"
        )


BillingEvent = LeadCharged | LeadRejected | AccountPaused | AccountReactivated
