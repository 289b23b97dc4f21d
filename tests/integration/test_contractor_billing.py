"""The contractor's billing routes of the api function against moto: GET /me/billing
(R13) and PUT /me/budget (R8). The contractor is the one the verified claims name."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

from functions.adapters.accounts import card_item
from functions.adapters.models import AccountModel
from functions.billing.account import MAX_BUDGET
from functions.billing.invoices import Card
from tests.integration.conftest import Clock
from tests.integration.steps import (
    account,
    deliver,
    events,
    lead,
    ledger,
    open_contractor,
    records_for,
)
from tests.support.aws import LambdaContext, Resources, rest_event


def call(
    api: ModuleType,
    method: str,
    path: str,
    body: Any = None,
    *,
    contractor: str | None = "c-1",
) -> tuple[int, dict[str, Any]]:
    event = rest_event(method, path, body)
    if contractor is not None:
        event["requestContext"]["authorizer"] = {
            "claims": {"username": contractor, "scope": "billing/contractor"}
        }
    response = api.handler(event, LambdaContext(function_name="api"))
    return response["statusCode"], json.loads(response["body"])


def save_card(card: Card, contractor_id: str = "c-1") -> None:
    AccountModel(contractor_id).update(actions=[AccountModel.card.set(card_item(card))])


# ---------------------------------------------------------------- GET /me/billing


def test_r13_the_contractor_sees_the_billing_state_and_the_card_on_file(api, clock: Clock):
    open_contractor()
    save_card(Card("pm_1", "visa", "4242", 11, 2026))
    clock.set("2026-11-30T23:59:00-06:00")  # the card's last valid day, in Chicago
    status, body = call(api, "GET", "/me/billing")
    assert status == 200
    _, admin = call(api, "GET", "/admin/accounts/c-1", contractor=None)
    assert {key: value for key, value in body.items() if key != "card"} == admin
    assert body["card"] == {
        "brand": "visa",
        "last4": "4242",
        "exp_month": 11,
        "exp_year": 2026,
        "expired": False,
    }


def test_r13_a_card_past_its_expiry_month_in_the_accounts_timezone_shows_expired(api, clock: Clock):
    open_contractor()
    save_card(Card("pm_1", "visa", "4242", 11, 2026))
    clock.set("2026-12-01T00:00:00-06:00")  # still November 30 in UTC-7 and west of it
    assert call(api, "GET", "/me/billing")[1]["card"]["expired"] is True
    clock.set("2026-11-30T23:59:59-06:00")
    assert call(api, "GET", "/me/billing")[1]["card"]["expired"] is False


def test_r13_no_card_on_file_shows_null(api):
    open_contractor()
    status, body = call(api, "GET", "/me/billing")
    assert status == 200
    assert body["card"] is None
    assert body["budget"]["monthly_cents"] == 100_000


def test_r13_a_contractor_sees_only_their_own_billing(api):
    # Given two contractors
    open_contractor("c-1", budget=100_000)
    open_contractor("c-2", budget=7_000)
    # When c-1 asks, naming c-2 wherever a request can name something
    status, body = call(api, "GET", "/me/billing?contractor_id=c-2", contractor="c-1")
    # Then c-1 sees c-1's billing only
    assert status == 200
    assert (body["contractor_id"], body["budget"]["monthly_cents"]) == ("c-1", 100_000)
    # And a body naming another contractor is refused, not obeyed
    status, _ = call(
        api, "PUT", "/me/budget", {"monthly_cents": 1, "contractor_id": "c-2"}, contractor="c-1"
    )
    assert status == 400
    assert account("c-2").monthly_budget_cents == 7_000


def test_the_contractor_routes_require_verified_claims(api):
    open_contractor()
    assert call(api, "GET", "/me/billing", contractor=None)[0] == 401
    status, body = call(api, "PUT", "/me/budget", {"monthly_cents": 5}, contractor=None)
    assert (status, body["error"]) == (401, "unauthenticated")
    assert account().monthly_budget_cents == 100_000


def test_a_contractor_without_an_account_gets_404(api):
    status, body = call(api, "GET", "/me/billing", contractor="nobody")
    assert (status, body["error"]) == (404, "account_not_found")


# ---------------------------------------------------------------- PUT /me/budget


def test_r8_raising_the_budget_above_the_spend_lifts_a_budget_pause_at_once(
    api, on_lead, aws: Resources, clock: Clock
):
    # Given an account paused for budget: its spend reached its budget
    open_contractor(budget=10_000)
    deliver(on_lead, records_for(aws, [lead("L1", 10_000)]))
    paused_since = account().pauses.as_dict()["budget"]
    events(aws)
    clock.set("2026-11-21T10:00:00-06:00")
    # When the contractor raises the budget
    status, body = call(api, "PUT", "/me/budget", {"monthly_cents": 15_000})
    # Then the account is active at once, with what the new budget leaves
    assert status == 200
    assert body["status"] == "active"
    assert body["budget"]["monthly_cents"] == 15_000
    assert body["budget"]["remaining_cents"] == 5_000
    item = account()
    assert item.pauses.as_dict() == {}
    assert (item.monthly_budget_cents, item.spent_cents, item.remaining_cents) == (
        15_000,
        10_000,
        5_000,
    )
    assert item.invoice_headroom_cents == 10_000  # R4: the threshold headroom is unaffected
    [reactivation] = ledger(kind="account_reactivated")
    assert reactivation.entry_id == f"reactivation#budget#{paused_since}"
    [announced] = events(aws, "AccountReactivated")
    assert announced["detail"]["reason"] == "budget"
    # And the next lead is charged
    deliver(on_lead, records_for(aws, [lead("L2", 2_000, at="2026-11-21T09:00:00-06:00")]))
    assert account().spent_cents == 12_000


@pytest.mark.parametrize("budget", [6_000, 4_000])
def test_r8_lowering_the_budget_to_or_below_the_spend_pauses_at_once(
    api, on_lead, aws: Resources, clock: Clock, budget: int
):
    open_contractor(budget=10_000)
    deliver(on_lead, records_for(aws, [lead("L1", 6_000)]))
    events(aws)
    clock.set("2026-11-21T10:00:00-06:00")
    status, body = call(api, "PUT", "/me/budget", {"monthly_cents": budget})
    assert status == 200
    assert body["status"] == "paused"
    assert [pause["reason"] for pause in body["pauses"]] == ["budget"]
    assert body["budget"]["remaining_cents"] == 0
    item = account()
    assert (item.monthly_budget_cents, item.spent_cents, item.remaining_cents) == (
        budget,
        6_000,
        0,
    )
    assert len(ledger(kind="account_paused")) == 1
    [announced] = events(aws, "AccountPaused")
    assert announced["detail"]["reason"] == "budget"
    # And a lead is rejected because the account is paused
    deliver(on_lead, records_for(aws, [lead("L2", 100, at="2026-11-21T09:00:00-06:00")]))
    assert [entry.reason for entry in ledger(kind="lead_rejected")] == ["paused"]


def test_r8_lowering_the_budget_above_the_spend_keeps_the_account_active(api, on_lead, aws):
    open_contractor(budget=10_000)
    deliver(on_lead, records_for(aws, [lead("L1", 6_000)]))
    events(aws)
    status, body = call(api, "PUT", "/me/budget", {"monthly_cents": 8_000})
    assert (status, body["status"], body["budget"]["remaining_cents"]) == (200, "active", 2_000)
    assert events(aws, "AccountPaused") == []
    # Setting the budget it has changes nothing
    before = len(ledger())
    assert call(api, "PUT", "/me/budget", {"monthly_cents": 8_000})[0] == 200
    assert len(ledger()) == before


@pytest.mark.parametrize(
    "value", [0, -5, MAX_BUDGET.cents + 1, 100.5, 100.0, "1000", None, True, [1]]
)
def test_bad_budgets_answer_400_naming_the_field(api, value):
    open_contractor()
    status, body = call(api, "PUT", "/me/budget", {"monthly_cents": value})
    assert status == 400
    assert body["error"] == "invalid_request"
    assert "monthly_cents" in body["message"]
    assert account().monthly_budget_cents == 100_000


@pytest.mark.parametrize("body", [{}, {"monthly_budget_cents": 5_000}, None])
def test_a_body_without_the_field_answers_400(api, body):
    open_contractor()
    status, answer = call(api, "PUT", "/me/budget", body)
    assert (status, answer["error"]) == (400, "invalid_request")
    assert account().monthly_budget_cents == 100_000


def test_the_largest_budget_is_accepted(api):
    open_contractor()
    status, body = call(api, "PUT", "/me/budget", {"monthly_cents": MAX_BUDGET.cents})
    assert (status, body["budget"]["monthly_cents"]) == (200, MAX_BUDGET.cents)


def test_r7_a_budget_change_after_the_period_ended_applies_to_the_new_period(
    api, on_lead, aws, clock
):
    # Given a period that ended paused for budget, with no lead or reset since
    open_contractor(budget=10_000)
    deliver(on_lead, records_for(aws, [lead("L1", 10_000)]))
    events(aws)
    clock.set("2026-12-16T10:00:00-06:00")
    # When the contractor lowers the budget below what the ended period spent
    status, body = call(api, "PUT", "/me/budget", {"monthly_cents": 5_000})
    # Then the period is rolled over first (the pause lifts), and the new budget applies to
    # the new period's spend
    assert (status, body["status"], body["budget"]["remaining_cents"]) == (200, "active", 5_000)
    item = account()
    assert (item.spent_cents, item.remaining_cents, item.prev_remaining_cents) == (0, 5_000, 0)
    assert len(ledger(kind="account_reactivated")) == 1
    assert len(events(aws, "AccountReactivated")) == 1
