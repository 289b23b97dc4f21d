"""A delivered lead, as the lead distribution system writes it into the Leads table.

The contract: ``lead_id`` (S), ``contractor_id`` (S), ``price_cents`` (N, an integer from 1
to 100000), ``delivered_at`` (S, ISO 8601 with a UTC offset), ``category`` (S). Other
attributes are ignored. A record that breaks the contract is never charged (R1): parsing
raises ``InvalidLead`` naming the field and what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from functions.billing.errors import FieldError
from functions.billing.money import Money

MIN_PRICE = Money(1)
MAX_PRICE = Money(100_000)
MAX_ID_LENGTH = 128


class InvalidLead(FieldError):
    """A lead record that breaks the contract; it is never charged (R1)."""


@dataclass(frozen=True, slots=True)
class Lead:
    lead_id: str
    contractor_id: str
    price: Money
    delivered_at: datetime
    category: str


def _text(image: Mapping[str, Any], name: str, max_length: int = MAX_ID_LENGTH) -> str:
    value = image.get(name)
    if value is None:
        raise InvalidLead(name, "missing")
    if not isinstance(value, str) or not value.strip():
        raise InvalidLead(name, "must be a non-empty string")
    if len(value) > max_length:
        raise InvalidLead(name, f"longer than {max_length} characters")
    return value


def _price(image: Mapping[str, Any]) -> Money:
    value = image.get("price_cents")
    if value is None:
        raise InvalidLead("price_cents", "missing")
    # Stream images carry numbers as Decimal; anything else broke the contract (N).
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise InvalidLead("price_cents", f"must be a number, got {type(value).__name__}")
    if isinstance(value, Decimal) and (not value.is_finite() or value != value.to_integral_value()):
        raise InvalidLead("price_cents", f"must be a whole number of cents, got {value}")
    price = Money(int(value))
    if not MIN_PRICE <= price <= MAX_PRICE:
        raise InvalidLead(
            "price_cents", f"must be from {MIN_PRICE.cents} to {MAX_PRICE.cents}, got {value}"
        )
    return price


def parse_instant(name: str, value: object) -> datetime:
    """An ISO 8601 instant with a UTC offset, as an aware UTC datetime."""
    if not isinstance(value, str):
        raise InvalidLead(name, "must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise InvalidLead(name, f"not an ISO 8601 date-time: {value!r}") from error
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidLead(name, f"has no UTC offset: {value!r}")
    return parsed.astimezone(UTC)


def parse_lead(image: Mapping[str, Any]) -> Lead:
    """A ``Lead`` from a deserialized Leads table item, or ``InvalidLead``."""
    return Lead(
        lead_id=_text(image, "lead_id"),
        contractor_id=_text(image, "contractor_id"),
        price=_price(image),
        delivered_at=parse_instant("delivered_at", image.get("delivered_at")),
        category=_text(image, "category", 100),
    )
