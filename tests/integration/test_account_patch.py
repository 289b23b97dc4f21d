"""``PATCH /admin/accounts/{id}`` against moto: an operator changes an account's details
(billing email, language, threshold, account manager), never its balances, pauses, status,
Stripe customer or id (mass assignment: 400 and nothing changes), and not its timezone."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

from functions.adapters.models import AccountModel
from tests.integration.conftest import Clock
from tests.integration.steps import deliver, lead, ledger, records_for
from tests.support.aws import LambdaContext, Resources, rest_event

NEW_ACCOUNT = {
    "contractor_id": "c-1",
    "business_name": "Acme Roofing",
    "billing_email": "billing@acme.example",
    "locale": "es",
    "timezone": "America/Chicago",
    "monthly_budget_cents": 150_000,
    "signed_up_at": "2026-11-15T10:00:00-06:00",
}
MANAGER = {"name": "Ana López", "phone": "(312) 555-0147", "email": "ana.lopez@craftjack.com"}


def call(api: ModuleType, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    response = api.handler(rest_event(method, path, body), LambdaContext(function_name="api"))
    return response["statusCode"], json.loads(response["body"])


def patch(api: ModuleType, body: Any, contractor_id: str = "c-1") -> tuple[int, dict[str, Any]]:
    return call(api, "PATCH", f"/admin/accounts/{contractor_id}", body)


def stored(contractor_id: str = "c-1") -> dict[str, Any]:
    return AccountModel.get(contractor_id, consistent_read=True).serialize()


@pytest.fixture
def opened(api: ModuleType) -> ModuleType:
    status, body = call(api, "POST", "/admin/accounts", NEW_ACCOUNT)
    assert status == 201, body
    return api


@pytest.mark.parametrize(
    ("change", "shown"),
    [
        ({"billing_email": "ap@acme.example"}, {"billing_email": "ap@acme.example"}),
        ({"locale": "en"}, {"locale": "en"}),
        ({"timezone": "America/Chicago"}, {"timezone": "America/Chicago"}),
        ({"threshold_cents": 35_000}, {"threshold_cents": 35_000}),
        ({"account_manager": MANAGER}, {"account_manager": MANAGER}),
    ],
)
def test_each_detail_can_be_changed_and_reads_back(opened, change, shown):
    status, body = patch(opened, change)
    assert status == 200, body
    for field, value in shown.items():
        assert body[field] == value
    _, again = call(opened, "GET", "/admin/accounts/c-1")
    for field, value in shown.items():
        assert again[field] == value
    # Nothing else moved
    assert again["budget"]["monthly_cents"] == 150_000
    assert (again["status"], again["unbilled_cents"]) == ("active", 0)


def test_all_details_at_once_are_recorded_once_in_the_ledger(opened):
    change = {
        "billing_email": "ap@acme.example",
        "locale": "en",
        "threshold_cents": 35_000,
        "account_manager": MANAGER,
    }
    assert patch(opened, change)[0] == 200
    [entry] = ledger("c-1", kind="details_changed")
    assert entry.detail == "billing_email,locale,threshold_cents,account_manager"
    # The same request again changes nothing and records nothing more
    before = stored()
    assert patch(opened, change)[0] == 200
    assert stored() == before
    assert len(ledger("c-1", kind="details_changed")) == 1


def test_r4_the_threshold_keeps_the_headroom_and_the_threshold_trigger_consistent(
    opened, on_lead, aws: Resources, clock: Clock
):
    # Given $50.00 unbilled under the default $200.00 threshold
    clock.set("2026-11-20T10:00:00-06:00")
    deliver(on_lead, records_for(aws, [lead("A1", 5_000)]))
    item = AccountModel.get("c-1")
    assert (int(item.invoice_headroom_cents), item.invoice_due) == (15_000, False)

    # When the threshold is lowered to the unbilled amount: a threshold invoice is due now
    status, body = patch(opened, {"threshold_cents": 5_000})
    assert status == 200
    assert body["threshold_cents"] == 5_000
    item = AccountModel.get("c-1")
    assert (int(item.invoice_headroom_cents), item.invoice_due) == (0, True)

    # When it is raised above them again: no threshold invoice is due any more
    assert patch(opened, {"threshold_cents": 8_000})[0] == 200
    item = AccountModel.get("c-1")
    assert (int(item.invoice_headroom_cents), item.invoice_due) == (3_000, False)
    assert int(item.unbilled_cents) == 5_000


def test_r7_another_timezone_is_refused_with_its_reason_and_nothing_changes(opened):
    before = stored()
    status, body = patch(opened, {"timezone": "America/New_York", "locale": "en"})
    assert status == 409
    assert body["error"] == "timezone_change_unsupported"
    assert "budget period" in body["message"]
    assert stored() == before


FORBIDDEN = [
    ("status", "active"),
    ("pauses", []),
    ("pauses", {"budget": "2026-11-20T10:00:00Z"}),
    ("unbilled_cents", 0),
    ("past_due_cents", 0),
    ("spent_cents", 0),
    ("remaining_cents", 999_999),
    ("credit_cents", 100_000),
    ("monthly_budget_cents", 999_999),
    ("grace_ends_at", "2030-01-01T00:00:00Z"),
    ("invoice_due", True),
    ("stripe_customer_id", "cus_evil"),
    ("contractor_id", "c-2"),
    ("card", {"last4": "4242"}),
]


@pytest.mark.parametrize(("field", "value"), FORBIDDEN)
def test_mass_assignment_a_forbidden_field_answers_400_and_changes_nothing(
    opened, field: str, value: Any
):
    before = stored()
    # Alone, and beside an allowed change: the whole request is refused
    for body in ({field: value}, {"billing_email": "ap@acme.example", field: value}):
        status, answer = patch(opened, body)
        assert status == 400, answer
        assert answer["error"] == "invalid_request"
        assert field in answer["message"]
    assert stored() == before
    assert ledger("c-1", kind="details_changed") == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"billing_email": None},
        {"billing_email": "not-an-email"},
        {"locale": "fr"},
        {"timezone": "Mars/Olympus"},
        {"threshold_cents": 0},
        {"threshold_cents": "20000"},
        {"threshold_cents": 100.5},
        {"threshold_cents": True},
        {"account_manager": {"name": "Ana"}},
        {"account_manager": {**MANAGER, "email": "nope"}},
        {"account_manager": {**MANAGER, "role": "boss"}},
        ["billing_email"],
    ],
)
def test_a_bad_value_answers_400_and_changes_nothing(opened, body: Any):
    before = stored()
    status, answer = patch(opened, body)
    assert (status, answer["error"]) == (400, "invalid_request"), answer
    assert stored() == before


def test_an_unknown_account_answers_404(api):
    status, body = patch(api, {"locale": "en"}, contractor_id="nobody")
    assert (status, body["error"]) == (404, "account_not_found")
    assert list(AccountModel.scan()) == []
