"""The contractor's billing account: who they are, their budget period and balances.

An ``Account`` is an immutable snapshot. Changes are made by the pure functions of the
rule modules (``budget``, ``pauses``, ``decision``), which return a new snapshot and the
events that the change produced.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from functions.billing.budget import BudgetPeriod, budget_period_at
from functions.billing.errors import FieldError
from functions.billing.invoices import Card
from functions.billing.money import Money

DEFAULT_THRESHOLD = Money(20_000)
DEFAULT_TIMEZONE = "America/Chicago"
SUPPORT_PHONE = "(866) 332-7134"
SUPPORT_EMAIL = "support@craftjack.com"
MAX_BUDGET = Money(100_000_000)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Contractor ids appear in invoice ids and URL paths: a safe alphabet only.
CONTRACTOR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


class Locale(StrEnum):
    EN = "en"
    ES = "es"


class PauseReason(StrEnum):
    """Why an account does not receive leads (R12). Each pause is independent."""

    BUDGET = "budget"
    NON_PAYMENT = "non_payment"


class AccountError(FieldError):
    """An account field with a value the billing cannot accept."""


@dataclass(frozen=True, slots=True)
class AccountManager:
    name: str = "CraftJack Support"
    phone: str = SUPPORT_PHONE
    email: str = SUPPORT_EMAIL


@dataclass(frozen=True, slots=True)
class Account:
    contractor_id: str
    business_name: str
    billing_email: str
    locale: Locale
    timezone: str
    signed_up_at: datetime
    monthly_budget: Money
    period: BudgetPeriod
    spent: Money = Money(0)
    threshold: Money = DEFAULT_THRESHOLD
    account_manager: AccountManager = AccountManager()
    pauses: Mapping[PauseReason, datetime] = field(default_factory=lambda: MappingProxyType({}))
    previous_period: BudgetPeriod | None = None
    previous_remaining: Money | None = None
    unbilled: Money = Money(0)
    past_due: Money = Money(0)
    # R9: set by the first failed payment, removed when everything past due is paid.
    first_failure_at: datetime | None = None
    grace_ends_at: datetime | None = None
    # R4: set by the charge that makes the unbilled charges reach the threshold, cleared by
    # the invoice that bills them; ``invoice_sequence`` counts the invoices issued so far.
    invoice_due: bool = False
    invoice_sequence: int = 0
    # R8: the budget changes made so far; numbers each change's ledger entry, so that two
    # changes are two entries even when made at one instant.
    budget_changes: int = 0
    # R6, R11: the Stripe customer created with the account, and the card saved on it.
    stripe_customer_id: str | None = None
    card: Card | None = None
    # Lead credits of charges already invoiced (``billing.credits``): taken off the next
    # invoice before its card is charged; never negative.
    credit: Money = Money(0)

    @property
    def remaining(self) -> Money:
        """What the budget still allows in the current period; never negative."""
        return max(self.monthly_budget - self.spent, Money(0))

    @property
    def invoice_headroom(self) -> Money:
        """How far the unbilled charges are below the threshold (R4); zero or less: reached."""
        return self.threshold - self.unbilled

    @property
    def paused(self) -> bool:
        return bool(self.pauses)

    def with_pauses(self, pauses: Mapping[PauseReason, datetime]) -> Account:
        return replace(self, pauses=MappingProxyType(dict(pauses)))


def _require_text(field_name: str, value: object, max_length: int = 200) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AccountError(field_name, "must be a non-empty string")
    if len(value) > max_length:
        raise AccountError(field_name, f"must be at most {max_length} characters")
    return value.strip()


def _contractor_id(value: object) -> str:
    contractor_id = _require_text("contractor_id", value, 128)
    if not CONTRACTOR_ID.match(contractor_id):
        raise AccountError(
            "contractor_id", "must be letters, digits and - _ . : (starting with a letter or digit)"
        )
    return contractor_id


def validate_timezone(value: object) -> str:
    name = _require_text("timezone", value, 64)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise AccountError("timezone", f"unknown IANA timezone {name!r}") from error
    return name


def validate_email(field_name: str, value: object) -> str:
    email = _require_text(field_name, value, 254)
    if not _EMAIL.match(email):
        raise AccountError(field_name, f"not an email address: {email!r}")
    return email


def validate_threshold(value: Money) -> Money:
    """R4: the unbilled amount that triggers an invoice at once."""
    if value <= Money(0):
        raise AccountError("threshold_cents", "must be positive")
    if value > MAX_BUDGET:
        raise AccountError("threshold_cents", f"must be at most {MAX_BUDGET.cents}")
    return value


def validate_locale(value: object) -> Locale:
    try:
        return Locale(str(value))
    except ValueError as error:
        raise AccountError("locale", "must be 'en' or 'es'") from error


def validate_account_manager(manager: AccountManager) -> AccountManager:
    """R14: the name, phone and email every email ends with."""
    return AccountManager(
        name=_require_text("account_manager.name", manager.name),
        phone=_require_text("account_manager.phone", manager.phone, 40),
        email=validate_email("account_manager.email", manager.email),
    )


def validate_budget(value: Money) -> Money:
    if value < Money(1) or value > MAX_BUDGET:
        raise AccountError("monthly_budget_cents", f"must be from 1 to {MAX_BUDGET.cents}")
    return value


def open_account(
    *,
    contractor_id: str,
    business_name: str,
    billing_email: str,
    locale: str,
    timezone: str,
    signed_up_at: datetime,
    monthly_budget: Money,
    threshold: Money = DEFAULT_THRESHOLD,
    account_manager: AccountManager | None = None,
) -> Account:
    """A new account, active, in the budget period that contains its signup instant."""
    if signed_up_at.tzinfo is None:
        raise AccountError("signed_up_at", "must carry a UTC offset")
    try:
        parsed_locale = Locale(locale)
    except ValueError as error:
        raise AccountError("locale", "must be 'en' or 'es'") from error
    if threshold <= Money(0):
        raise AccountError("threshold_cents", "must be positive")
    timezone = validate_timezone(timezone)
    manager = account_manager or AccountManager()
    manager = AccountManager(
        name=_require_text("account_manager.name", manager.name),
        phone=_require_text("account_manager.phone", manager.phone, 40),
        email=validate_email("account_manager.email", manager.email),
    )
    return Account(
        contractor_id=_contractor_id(contractor_id),
        business_name=_require_text("business_name", business_name),
        billing_email=validate_email("billing_email", billing_email),
        locale=parsed_locale,
        timezone=timezone,
        signed_up_at=signed_up_at,
        monthly_budget=validate_budget(monthly_budget),
        period=budget_period_at(signed_up_at, signed_up_at, timezone),
        threshold=threshold,
        account_manager=manager,
    )
