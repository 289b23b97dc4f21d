"""Money as integer US cents in a small immutable type.

Floats are refused at construction, so a float can never enter a balance. Values that
arrive from DynamoDB as ``Decimal`` are converted once, at the edge, by ``Money.parse``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

CURRENCY = "USD"
_WHOLE_CENTS = re.compile(r"-?[0-9]+")


class MoneyError(ValueError):
    """An amount that is not a whole number of cents, or mixes currencies."""


@dataclass(frozen=True, slots=True)
class Money:
    cents: int
    currency: str = CURRENCY

    def __post_init__(self) -> None:
        if type(self.cents) is not int:  # bool is an int subclass and is refused too
            raise MoneyError(f"cents must be an int, got {type(self.cents).__name__}")

    @classmethod
    def zero(cls) -> Money:
        return cls(0)

    @classmethod
    def parse(cls, value: Any) -> Money:
        """Whole cents from an int, an integral ``Decimal`` or a string of digits."""
        if isinstance(value, (bool, float)):
            raise MoneyError(f"not a whole number of cents: {value!r}")
        if isinstance(value, int):
            return cls(value)
        if isinstance(value, Decimal):
            if not value.is_finite() or value != value.to_integral_value():
                raise MoneyError(f"not a whole number of cents: {value}")
            return cls(int(value))
        if isinstance(value, str) and _WHOLE_CENTS.fullmatch(value.strip()):
            return cls(int(value.strip()))
        raise MoneyError(f"not a whole number of cents: {value!r}")

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise MoneyError(f"mixed currencies: {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.cents + other.cents, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.cents - other.cents, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.cents < other.cents

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.cents <= other.cents

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.cents > other.cents

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.cents >= other.cents

    def __neg__(self) -> Money:
        return Money(-self.cents, self.currency)

    def __bool__(self) -> bool:
        return self.cents != 0

    def __str__(self) -> str:
        sign = "-" if self.cents < 0 else ""
        whole, part = divmod(abs(self.cents), 100)
        return f"{sign}${whole:,}.{part:02d}"
