"""The budget of the synthesized stack, end to end on the local stack: the contractor
changes their budget through PUT /me/budget with their own token (R8), and the daily
schedule of a timezone at 00:05 local time runs budget_reset, which rolls the periods
that ended over and lifts budget pauses (R7, R8)."""

from __future__ import annotations

from typing import Any

import pytest

from infra import names
from tests.e2e.conftest import LocalClient

pytestmark = pytest.mark.e2e

BUDGET_RESET = names.FUNCTION_LOGICAL_IDS[names.BUDGET_RESET]


def _reactivations(local: LocalClient, contractor_id: str) -> list[str]:
    """The reasons of the reactivations of ``contractor_id`` announced on the bus."""
    return [
        event["detail"]["reason"]
        for event in local.facts()
        if event["detail-type"] == "AccountReactivated"
        and event["detail"]["contractor_id"] == contractor_id
    ]


def _reset_runs(local: LocalClient, timezone: str) -> list[dict[str, Any]]:
    return [
        invocation
        for invocation in local.invocations()
        if invocation["function"] == BUDGET_RESET
        and invocation["source"] == "schedule"
        and invocation["event"] == {"run": "budget_reset", "timezone": timezone}
    ]


def test_a_contractor_raises_their_budget_and_is_reactivated_at_once(local: LocalClient):
    # Given an account paused for budget (clock: Wednesday 2025-03-05 12:00Z)
    created = local.create_account(contractor_id="e2e-raise", monthly_budget_cents=5_000)
    assert created.status_code == 201, created.text
    local.put_lead(contractor_id="e2e-raise", price_cents=5_000)
    local.advance(1)
    assert local.get_account("e2e-raise").json()["status"] == "paused"
    token = local.contractor_token("e2e-raise")

    # When the contractor raises the budget with their own token
    response = local.request("PUT", "/me/budget", token=token, json={"monthly_cents": 8_000})

    # Then the account is active at once, and the reactivation is announced
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["budget"]["remaining_cents"]) == ("active", 3_000)
    assert _reactivations(local, "e2e-raise") == ["budget"]
    # And GET /me/billing shows the same, with no card on file yet
    billing = local.request("GET", "/me/billing", token=token).json()
    assert billing["budget"]["monthly_cents"] == 8_000
    assert billing["card"] is None


def test_the_budget_routes_need_a_contractor_token(local: LocalClient):
    assert local.request("PUT", "/me/budget", json={"monthly_cents": 8_000}).status_code == 401
    refused = local.request(
        "PUT", "/me/budget", token=local.contractor_token("e2e-raise"), json={"monthly_cents": 0}
    )
    assert refused.status_code == 400
    assert "monthly_cents" in refused.json()["message"]


def test_the_chicago_schedule_at_00_05_resets_budget_periods_that_ended(local: LocalClient):
    # Given an account of Chicago that signed up on February 6, paused for budget
    created = local.create_account(
        contractor_id="e2e-reset",
        monthly_budget_cents=4_500,
        signed_up_at="2025-02-06T10:00:00-06:00",
    )
    assert created.status_code == 201, created.text
    local.put_lead(contractor_id="e2e-reset", price_cents=4_500)
    local.advance(1)
    accounts = local.table("accounts")
    assert set(accounts.get_item(Key={"contractor_id": "e2e-reset"})["Item"]["pauses"]) == {
        "budget"
    }

    # When the clock reaches 00:04 in Chicago on March 6, nothing has run for Chicago
    local.set_clock("2025-03-06T06:04:00Z")
    assert _reset_runs(local, "America/Chicago") == []
    # And at 00:05 the Chicago schedule runs budget_reset
    local.set_clock("2025-03-06T06:05:30Z")
    [run] = _reset_runs(local, "America/Chicago")
    assert run["at"] == "2025-03-06T06:05:00+00:00"
    assert run["ok"] is True

    # Then the stored period is the new one, spend from zero and the pause lifted
    item = accounts.get_item(Key={"contractor_id": "e2e-reset"}, ConsistentRead=True)["Item"]
    assert item["period_start"] == "2025-03-06T06:00:00.000000Z"
    assert (item["spent_cents"], item["remaining_cents"], item["pauses"]) == (0, 4_500, {})
    assert _reactivations(local, "e2e-reset") == ["budget"]
