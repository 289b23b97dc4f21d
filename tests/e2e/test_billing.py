"""The billing end to end through the local stack of `make run`: the synthesized template,
the real handlers, moto server, the stream pump and the gateway (R1, R2, R8, R12)."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import LocalClient

pytestmark = pytest.mark.e2e


def test_a_lead_written_to_the_leads_table_becomes_spend(local: LocalClient):
    # Given an account opened through the operator API
    created = local.create_account(contractor_id="e2e-spend", monthly_budget_cents=10_000)
    assert created.status_code == 201, created.text
    # When the lead distribution system writes a lead into the Leads table
    lead_id = local.put_lead(contractor_id="e2e-spend", price_cents=4_500)
    # Then, once the stream pump has run, the account shows it as spend
    deadline = time.monotonic() + 5
    while True:
        state = local.get_account("e2e-spend").json()
        if state["budget"]["spent_cents"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert state["budget"]["spent_cents"] == 4_500
    assert state["budget"]["remaining_cents"] == 5_500
    assert state["unbilled_cents"] == 4_500
    assert state["status"] == "active"
    charged = [
        event
        for event in local.events()
        if event["detail-type"] == "LeadCharged" and event["detail"]["lead_id"] == lead_id
    ]
    assert len(charged) == 1


def test_reaching_the_budget_pauses_and_the_next_lead_is_rejected(local: LocalClient):
    local.create_account(contractor_id="e2e-budget", monthly_budget_cents=5_000)
    local.put_lead(contractor_id="e2e-budget", price_cents=5_000)
    local.advance(1)
    state = local.get_account("e2e-budget").json()
    assert state["status"] == "paused"
    assert [pause["reason"] for pause in state["pauses"]] == ["budget"]
    rejected_id = local.put_lead(contractor_id="e2e-budget", price_cents=100)
    local.advance(1)
    assert local.get_account("e2e-budget").json()["budget"]["spent_cents"] == 5_000
    events = local.facts()
    rejected = [e for e in events if e["detail"].get("lead_id") == rejected_id]
    assert [(e["detail-type"], e["detail"]["reason"]) for e in rejected] == [
        ("LeadRejected", "paused")
    ]
    paused = [
        e
        for e in events
        if e["detail-type"] == "AccountPaused" and e["detail"]["contractor_id"] == "e2e-budget"
    ]
    assert len(paused) == 1


def test_an_invalid_lead_is_quarantined_and_charges_nothing(local: LocalClient):
    local.create_account(contractor_id="e2e-invalid", monthly_budget_cents=5_000)
    lead_id = local.put_lead(contractor_id="e2e-invalid", price_cents=-5)
    local.advance(1)
    assert local.get_account("e2e-invalid").json()["budget"]["spent_cents"] == 0
    kept = local.table("quarantine").get_item(Key={"quarantine_id": f"lead#{lead_id}"})["Item"]
    assert kept["reason"] == "invalid"
    assert "price_cents" in kept["detail"]
