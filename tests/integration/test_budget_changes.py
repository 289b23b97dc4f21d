"""PUT /me/budget twice at one instant: each change is its own ledger entry (R8)."""

from __future__ import annotations

from tests.integration.steps import account, ledger, open_contractor
from tests.integration.test_contractor_billing import call


def test_r8_two_budget_changes_at_the_same_instant_both_apply(api):
    open_contractor(budget=100_000)

    first, _ = call(api, "PUT", "/me/budget", {"monthly_cents": 50_000})
    second, body = call(api, "PUT", "/me/budget", {"monthly_cents": 60_000})

    assert (first, second) == (200, 200)
    assert body["budget"]["monthly_cents"] == 60_000
    assert int(account().monthly_budget_cents) == 60_000
    changes = sorted(int(entry.amount_cents) for entry in ledger(kind="budget_changed"))
    assert changes == [50_000, 60_000]


def test_r8_the_same_change_repeated_at_one_instant_records_it_once(api):
    open_contractor(budget=100_000)

    for _ in range(2):
        status, _ = call(api, "PUT", "/me/budget", {"monthly_cents": 50_000})
        assert status == 200

    assert [int(e.amount_cents) for e in ledger(kind="budget_changed")] == [50_000]
