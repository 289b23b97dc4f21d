"""The operator API against moto: the account contract of POST and GET /admin/accounts."""

from __future__ import annotations

import json
from datetime import date
from types import ModuleType
from typing import Any

import pytest
import stripe

from functions.adapters.invoicing import InvoiceStore
from functions.adapters.models import AccountModel, LedgerEntryModel
from functions.billing.invoices import InvoiceKind, weekly_invoice_id
from tests.integration.conftest import Clock
from tests.integration.steps import deliver, lead, records_for
from tests.support.aws import LambdaContext, rest_event
from tests.support.cards import API_KEY

VALID = {
    "contractor_id": "c-1",
    "business_name": "Acme Roofing",
    "billing_email": "billing@acme.example",
    "locale": "es",
    "timezone": "America/Los_Angeles",
    "monthly_budget_cents": 150_000,
    "signed_up_at": "2026-01-31T10:00:00-08:00",
}


def call(api: ModuleType, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    response = api.handler(rest_event(method, path, body), LambdaContext(function_name="api"))
    return response["statusCode"], json.loads(response["body"])


def test_opening_an_account_answers_201_with_its_billing_state(api, clock: Clock):
    clock.set("2026-11-28T12:00:00-08:00")
    status, body = call(api, "POST", "/admin/accounts", VALID)
    assert status == 201
    assert body["status"] == "active"
    assert body["pauses"] == []
    assert body["threshold_cents"] == 20_000
    assert body["account_manager"]["phone"] == "(866) 332-7134"
    assert body["account_manager"]["email"] == "support@craftjack.com"
    # R7: signed up on the 31st; November has 30 days, so the next reset is on the 30th,
    # at midnight Pacific standard time (the current period began before the DST change)
    assert body["budget"] == {
        "monthly_cents": 150_000,
        "spent_cents": 0,
        "remaining_cents": 150_000,
        "period_start": "2026-10-31T00:00:00-07:00",
        "next_reset": "2026-11-30T00:00:00-08:00",
    }


def test_get_shows_the_current_period_of_an_account(api, clock: Clock):
    clock.set("2026-11-28T12:00:00-08:00")
    call(api, "POST", "/admin/accounts", VALID)
    status, body = call(api, "GET", "/admin/accounts/c-1")
    assert status == 200
    assert body["contractor_id"] == "c-1"
    assert body["budget"]["period_start"] == "2026-10-31T00:00:00-07:00"
    assert body["budget"]["next_reset"] == "2026-11-30T00:00:00-08:00"
    assert body["unbilled_cents"] == 0
    assert body["past_due_cents"] == 0
    assert body["grace_ends_at"] is None
    # The period start is recorded once in the ledger
    assert [entry.kind for entry in LedgerEntryModel.query("c-1")] == ["budget_period_started"]


def test_after_the_reset_day_get_shows_the_new_period(api, clock: Clock):
    clock.set("2026-11-28T12:00:00-08:00")
    call(api, "POST", "/admin/accounts", VALID)
    clock.set("2026-11-30T00:00:01-08:00")
    _, body = call(api, "GET", "/admin/accounts/c-1")
    assert body["budget"]["period_start"] == "2026-11-30T00:00:00-08:00"
    assert body["budget"]["next_reset"] == "2026-12-31T00:00:00-08:00"


def test_opening_an_existing_account_answers_409(api):
    assert call(api, "POST", "/admin/accounts", VALID)[0] == 201
    status, body = call(api, "POST", "/admin/accounts", {**VALID, "business_name": "Other"})
    assert status == 409
    assert body["error"] == "account_exists"
    assert call(api, "GET", "/admin/accounts/c-1")[1]["business_name"] == "Acme Roofing"


def test_an_unknown_account_answers_404(api):
    status, body = call(api, "GET", "/admin/accounts/nobody")
    assert status == 404
    assert body["error"] == "account_not_found"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("monthly_budget_cents", 100.5),
        ("monthly_budget_cents", "1000"),
        ("monthly_budget_cents", 0),
        ("monthly_budget_cents", True),
        ("threshold_cents", -1),
        ("locale", "fr"),
        ("timezone", "Mars/Olympus"),
        ("timezone", "Europe/Madrid"),  # a real zone without a Friday run (R3)
        ("billing_email", "not-an-email"),
        ("signed_up_at", "2026-01-31T10:00:00"),
        ("contractor_id", ""),
        ("unexpected", "x"),
    ],
)
def test_a_bad_field_answers_400_naming_it(api, field, value):
    status, body = call(api, "POST", "/admin/accounts", {**VALID, field: value})
    assert status == 400, body
    assert field in body["message"]
    assert call(api, "GET", "/admin/accounts/c-1")[0] == 404


def test_a_missing_field_answers_400_naming_it(api):
    body = {key: value for key, value in VALID.items() if key != "timezone"}
    status, answer = call(api, "POST", "/admin/accounts", body)
    assert status == 400
    assert "timezone" in answer["message"]


def test_r6_opening_an_account_creates_its_stripe_customer(api, localstripe):
    assert call(api, "POST", "/admin/accounts", VALID)[0] == 201
    customer_id = AccountModel.get("c-1").stripe_customer_id
    assert customer_id and customer_id.startswith("cus_")
    api_client = stripe.StripeClient(API_KEY, base_addresses={"api": localstripe})
    customer = api_client.v1.customers.retrieve(customer_id)
    assert customer.metadata.to_dict().get("contractor_id") == "c-1"


def test_invoices_are_listed_newest_first_a_page_at_a_time_and_shown_with_their_lines(
    api, on_lead, aws, clock: Clock
):
    call(api, "POST", "/admin/accounts", {**VALID, "timezone": "America/Chicago"})
    store = InvoiceStore()
    issued = []
    for week, friday in enumerate(["2026-11-06", "2026-11-13", "2026-11-20"]):
        clock.set(f"{friday}T10:00:00-06:00")
        deliver(
            on_lead,
            records_for(aws, [lead(f"L{week}", 1_000 + week, at=f"{friday}T09:00:00-06:00")]),
        )
        invoice_id = weekly_invoice_id("c-1", date.fromisoformat(friday))
        store.issue("c-1", invoice_id, InvoiceKind.WEEKLY, clock.now())
        issued.append(invoice_id)

    status, first = call(api, "GET", "/admin/accounts/c-1/invoices?limit=2")
    assert status == 200
    assert [item["invoice_id"] for item in first["items"]] == issued[::-1][:2]
    assert first["next_cursor"]
    _, second = call(
        api, "GET", f"/admin/accounts/c-1/invoices?limit=2&cursor={first['next_cursor']}"
    )
    assert [item["invoice_id"] for item in second["items"]] == [issued[0]]
    assert second["next_cursor"] is None

    status, detail = call(api, "GET", f"/admin/invoices/{issued[2]}")
    assert status == 200
    assert detail["contractor_id"] == "c-1"
    assert (detail["kind"], detail["status"], detail["total_cents"]) == ("weekly", "open", 1_002)
    assert detail["issued_at"] == "2026-11-20T10:00:00-06:00"
    assert detail["lines"] == [
        {
            "lead_id": "L2",
            "delivered_at": "2026-11-20T09:00:00-06:00",
            "category": "roofing",
            "amount_cents": 1_002,
        }
    ]
    assert detail["attempts"] == []
    assert call(api, "GET", "/admin/invoices/nope~W2026-11-20")[0] == 404


def test_the_ledger_of_an_account_is_listed_in_the_order_it_was_recorded_a_page_at_a_time(
    api, on_lead, aws, clock: Clock
):
    # Given an account with a period start, two charges and an invoice
    clock.set("2026-11-20T08:00:00-06:00")
    opened = {**VALID, "timezone": "America/Chicago", "signed_up_at": "2026-11-20T08:00:00-06:00"}
    assert call(api, "POST", "/admin/accounts", opened)[0] == 201
    clock.set("2026-11-20T09:30:00-06:00")
    deliver(
        on_lead,
        records_for(
            aws,
            [
                lead("L1", 1_000, at="2026-11-20T09:00:00-06:00"),
                lead("L2", 2_000, at="2026-11-20T09:10:00-06:00"),
            ],
        ),
    )
    clock.set("2026-11-20T10:00:00-06:00")
    invoice_id = weekly_invoice_id("c-1", date(2026, 11, 20))
    InvoiceStore().issue("c-1", invoice_id, InvoiceKind.WEEKLY, clock.now())
    stored = sorted(LedgerEntryModel.query("c-1"), key=lambda entry: entry.recorded_key)

    # When the operator pages through it, two at a time
    got, cursor = [], None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        status, page = call(api, "GET", f"/admin/accounts/c-1/ledger{query}")
        assert status == 200, page
        got += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    # Then every entry comes once, oldest first, in the account's local time
    assert [item["entry_id"] for item in got] == [entry.entry_id for entry in stored]
    assert [item["kind"] for item in got] == [
        "budget_period_started",
        "charge",
        "charge",
        "invoice_issued",
    ]
    assert got[1]["recorded_at"] == "2026-11-20T09:30:00-06:00"
    assert (got[1]["lead_id"], got[1]["amount_cents"], got[1]["invoice_id"]) == (
        "L1",
        1_000,
        invoice_id,
    )
    assert (got[3]["amount_cents"], got[3]["detail"], got[3]["reason"]) == (
        3_000,
        invoice_id,
        "weekly",
    )


def test_the_ledger_of_an_unknown_account_answers_404_and_a_bad_cursor_400(api):
    status, body = call(api, "GET", "/admin/accounts/nobody/ledger")
    assert (status, body["error"]) == (404, "account_not_found")
    call(api, "POST", "/admin/accounts", VALID)
    for query in ["limit=0", "limit=101", "cursor=garbage"]:
        status, body = call(api, "GET", f"/admin/accounts/c-1/ledger?{query}")
        assert (status, body["error"]) == (400, "invalid_request"), query
