"""An operator's change of an account's details (``PATCH /admin/accounts/{id}``).

The details an account manager keeps: the billing email (R5), the language (R14), the
invoice threshold (R4) and the account manager shown in every email (R14). Balances,
budget, pauses, status, the Stripe customer and the contractor id are never changed this
way: they follow from charges, payments and the rules alone.

**The timezone cannot be changed.** It places the budget period (R7: from local midnight
of the signup day, and the signup day itself is a local date), the daily reset and the
Friday invoice run (R3) of the account. Moving it under a running period would cut that
period at other instants: the spend already counted in it would belong to a period with
other boundaries, a lead delivered in the hours between the old and the new boundary would
fall in no period or in two, and the period-keyed facts (the 75 % notice, the period's
ledger entry) would repeat. A request naming the timezone the account has changes nothing
and is accepted; any other timezone is refused with ``TimezoneChangeRefused``.

Every value is validated before anything changes, so a request with one bad value changes
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from functions.billing.account import (
    Account,
    AccountManager,
    validate_account_manager,
    validate_email,
    validate_locale,
    validate_threshold,
    validate_timezone,
)
from functions.billing.errors import BillingError
from functions.billing.money import Money


class TimezoneChangeRefused(BillingError):
    def __init__(self, contractor_id: str, current: str, wanted: str) -> None:
        super().__init__(
            f"the timezone of {contractor_id!r} stays {current}: it places the budget period "
            f"(R7), the daily reset and the Friday invoice run, and moving them to {wanted} "
            "would cut a running budget period at other instants"
        )
        self.contractor_id = contractor_id
        self.current = current
        self.wanted = wanted


@dataclass(frozen=True, slots=True)
class DetailChanges:
    """The details to change; None: unchanged."""

    billing_email: str | None = None
    locale: str | None = None
    timezone: str | None = None
    threshold: Money | None = None
    account_manager: AccountManager | None = None


def change_details(account: Account, changes: DetailChanges) -> Account:
    """The account with ``changes``; raises ``AccountError`` naming the first bad field, or
    ``TimezoneChangeRefused``.

    R4: a new threshold moves the headroom with it (``Account.invoice_headroom``), and the
    threshold invoice is due exactly when the unbilled charges reach the new threshold: a
    threshold lowered to or below them invoices at once, one raised above them stops a
    threshold invoice that has not been issued yet.
    """
    changed = account
    if changes.billing_email is not None:
        changed = replace(
            changed, billing_email=validate_email("billing_email", changes.billing_email)
        )
    if changes.locale is not None:
        changed = replace(changed, locale=validate_locale(changes.locale))
    if changes.account_manager is not None:
        changed = replace(
            changed, account_manager=validate_account_manager(changes.account_manager)
        )
    if changes.threshold is not None:
        threshold = validate_threshold(changes.threshold)
        changed = replace(
            changed,
            threshold=threshold,
            invoice_due=bool(account.unbilled) and account.unbilled >= threshold,
        )
    if changes.timezone is not None:
        timezone = validate_timezone(changes.timezone)
        if timezone != account.timezone:
            raise TimezoneChangeRefused(account.contractor_id, account.timezone, timezone)
    return changed
