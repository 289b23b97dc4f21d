"""The contractor's read routes (R13) through the local gateway with contractor tokens, as
the Pro App and the Lead Manager call them: the billing state with the next invoice, the
invoices with their leads, the ledger, a page at a time; and contractor A's token never
reads contractor B's invoice or ledger. The operator reads an account's ledger too."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import LocalClient

pytestmark = pytest.mark.e2e

A, B = "e2e-reads-a", "e2e-reads-b"
A_LEADS = {"e2e-reads-a-lead-1": 1_100, "e2e-reads-a-lead-2": 2_200}
B_LEADS = {"e2e-reads-b-secret-1": 7_777, "e2e-reads-b-secret-2": 8_888}
# Friday 2025-03-07, 06:05 in Chicago: the weekly run of that timezone has fired.
FRIDAY_RUN = "2025-03-07T12:05:00Z"


@pytest.fixture(scope="module")
def billed(local: LocalClient) -> dict[str, str]:
    """A and B, each with two leads invoiced by the Friday run (no card: past due)."""
    for contractor, leads in [(A, A_LEADS), (B, B_LEADS)]:
        created = local.create_account(contractor_id=contractor)
        assert created.status_code == 201, created.text
        for lead_id, price in leads.items():
            local.put_lead(lead_id, contractor_id=contractor, price_cents=price)
    local.advance(1)
    local.set_clock(FRIDAY_RUN)
    return {A: f"{A}~W2025-03-07", B: f"{B}~W2025-03-07"}


def get(local: LocalClient, path: str, contractor: str = A) -> Any:
    response = local.request("GET", path, token=local.contractor_token(contractor))
    return response.status_code, response.json()


def every_page(local: LocalClient, path: str, contractor: str = A) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        status, page = get(local, path + "?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200, page
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def assert_nothing_of_b(body: Any) -> None:
    text = json.dumps(body)
    assert B not in text
    for lead_id, price in B_LEADS.items():
        assert lead_id not in text
        assert str(price) not in text


def test_r13_the_billing_state_through_the_gateway(local: LocalClient, billed: dict[str, str]):
    status, body = get(local, "/me/billing")

    assert status == 200, body
    assert body["contractor_id"] == A
    assert body["status"] == "active"
    assert (body["unbilled_cents"], body["past_due_cents"]) == (0, 3_300)
    # 168 h after the failed attempt of Friday, in daylight time by then
    assert body["grace_ends_at"].startswith("2025-03-14T")
    assert body["grace_ends_at"].endswith("-05:00")
    assert (body["threshold_cents"], body["threshold_remaining_cents"]) == (20_000, 20_000)
    assert body["budget"]["spent_cents"] == 3_300
    # The Friday run of this week has fired: the next is next Friday's, in daylight time
    assert body["next_invoice"] == {"kind": "weekly", "at": "2025-03-14T06:00:00-05:00"}
    assert body["card"] is None
    assert_nothing_of_b(body)


def test_r13_the_invoices_through_the_gateway(local: LocalClient, billed: dict[str, str]):
    status, body = get(local, "/me/invoices")

    assert status == 200, body
    assert body["next_cursor"] is None
    (invoice,) = body["items"]
    assert invoice["invoice_id"] == billed[A]
    assert (invoice["kind"], invoice["status"], invoice["total_cents"]) == (
        "weekly",
        "past_due",
        3_300,
    )
    assert invoice["issued_at"].endswith("-06:00")
    assert_nothing_of_b(body)


def test_r13_an_invoice_with_its_leads_through_the_gateway(
    local: LocalClient, billed: dict[str, str]
):
    status, body = get(local, f"/me/invoices/{billed[A]}")

    assert status == 200, body
    assert {line["lead_id"]: line["amount_cents"] for line in body["lines"]} == A_LEADS
    assert body["total_cents"] == sum(A_LEADS.values())
    assert [attempt["outcome"] for attempt in body["attempts"]] == ["no_card"]
    assert_nothing_of_b(body)


def test_r13_the_ledger_through_the_gateway_a_page_at_a_time(
    local: LocalClient, billed: dict[str, str]
):
    entries = every_page(local, "/me/ledger")

    ids = [entry["entry_id"] for entry in entries]
    assert len(ids) == len(set(ids))
    assert {f"lead#{lead_id}" for lead_id in A_LEADS} <= set(ids)
    assert f"invoice#{billed[A]}" in ids
    assert f"payment_failed#{billed[A]}" in ids
    recorded = [entry["recorded_at"] for entry in entries]
    assert ids.index(f"invoice#{billed[A]}") > max(ids.index(f"lead#{i}") for i in A_LEADS)
    assert all(at.endswith(("-06:00", "-05:00")) for at in recorded)
    assert_nothing_of_b(entries)


def test_the_operator_reads_an_accounts_ledger_through_the_gateway(
    local: LocalClient, billed: dict[str, str]
):
    response = local.admin("GET", f"/admin/accounts/{B}/ledger?limit=100")

    assert response.status_code == 200, response.text
    ids = [entry["entry_id"] for entry in response.json()["items"]]
    assert {f"lead#{lead_id}" for lead_id in B_LEADS} <= set(ids)


def test_r13_as_token_reads_nothing_of_bs_invoice_ledger_or_cursors(
    local: LocalClient, billed: dict[str, str]
):
    # B's invoice: the same 404 as an invoice that does not exist
    status, body = get(local, f"/me/invoices/{billed[B]}")
    never = f"{B}~W2025-02-28"
    unknown_status, unknown = get(local, f"/me/invoices/{never}")
    assert (status, unknown_status) == (404, 404)
    assert body == {"error": "invoice_not_found", "message": f"no invoice {billed[B]!r}"}
    assert unknown == {"error": "invoice_not_found", "message": f"no invoice {never!r}"}
    assert not any(lead_id in json.dumps(body) for lead_id in B_LEADS)

    # B named in the query: ignored, A's own ledger and invoices
    for route in ["/me/ledger", "/me/invoices"]:
        status, body = get(local, f"{route}?contractor_id={B}&limit=100")
        assert status == 200, body
        assert body["items"]
        assert_nothing_of_b(body)

    # A cursor of B's listing: refused in A's listings
    _, first = get(local, "/me/ledger?limit=1", contractor=B)
    assert first["next_cursor"]
    for route in ["/me/ledger", "/me/invoices"]:
        status, body = get(local, f"{route}?limit=1&cursor={first['next_cursor']}")
        assert (status, body["error"]) == (400, "invalid_request")
        assert_nothing_of_b(body)
