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


def test_r8_a_change_back_and_forth_at_one_instant_records_each_change(api):
    # Given an account whose clock does not move between requests
    open_contractor(budget=100_000)

    # When the budget goes down, up and down again to the same figures at that instant
    answers = [
        call(api, "PUT", "/me/budget", {"monthly_cents": cents})
        for cents in (50_000, 100_000, 50_000, 100_000)
    ]

    # Then every change applies and is its own ledger entry, in the order made
    assert [status for status, _ in answers] == [200, 200, 200, 200]
    assert int(account().monthly_budget_cents) == 100_000
    entries = sorted(ledger(kind="budget_changed"), key=lambda entry: entry.recorded_key)
    assert [int(entry.amount_cents) for entry in entries] == [50_000, 100_000, 50_000, 100_000]
    assert len({entry.entry_id for entry in entries}) == 4
