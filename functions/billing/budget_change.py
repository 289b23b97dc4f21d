"""R8: the contractor changes their monthly budget.

The change takes effect at once in the current budget period: what remains is the new
budget minus what was spent, never below zero. A budget at or below the spend pauses the
account for budget; raising the budget above the spend lifts a budget pause. Lowering a
budget that stays above the spend leaves the pauses as they are: a pause started by a lead
that did not fit is lifted by raising the budget, not by lowering it. The invoice threshold
is a separate limit (R4) and does not move.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from functions.billing.account import Account, validate_budget
from functions.billing.events import AccountPaused, AccountReactivated
from functions.billing.money import Money
from functions.billing.pauses import Trigger, apply

BudgetEvent = AccountPaused | AccountReactivated


def change_budget(
    account: Account, monthly_budget: Money, at: datetime
) -> tuple[Account, list[BudgetEvent]]:
    """The account with ``monthly_budget`` from ``at`` on, and the pause or reactivation it
    caused. ``account`` must be in the budget period containing ``at`` (``roll_over``)."""
    validate_budget(monthly_budget)
    changed = replace(
        account, monthly_budget=monthly_budget, budget_changes=account.budget_changes + 1
    )
    if monthly_budget <= account.spent:
        changed, event = apply(changed, Trigger.BUDGET_REACHED, at)
    elif monthly_budget > account.monthly_budget:
        changed, event = apply(changed, Trigger.BUDGET_RAISED, at)
    else:
        event = None
    return changed, [event] if event is not None else []
