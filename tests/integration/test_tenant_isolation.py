"""Tenant isolation of the contractor's read routes (R13: "for their own account only"),
against moto: contractor A's verified token never reads contractor B's invoices or ledger,
whatever A puts in the path, the query or a cursor, and a refusal tells A nothing of B.

B's id, ``c-10``, starts with A's, ``c-1``, so that a check by prefix would let A in.
"""

from __future__ import annotations

import base64
import json
from types import ModuleType
from typing import Any

import pytest

from functions.adapters.models import LedgerEntryModel
from tests.integration.conftest import Clock
from tests.integration.steps import EARLIER_SIGNUP, open_contractor
from tests.integration.test_contractor_billing import bill_friday, call
from tests.support.aws import Resources

A, B = "c-1", "c-10"
# B's leads and prices, none of which any answer to A may carry.
B_LEADS = [("B-lead-secret-1", 7_777), ("B-lead-secret-2", 8_888)]
A_LEADS = [("A-lead-1", 1_000), ("A-lead-2", 2_000)]


def assert_nothing_of_b(body: Any) -> None:
    text = json.dumps(body)
    for lead_id, price in B_LEADS:
        assert lead_id not in text
        assert str(price) not in text
    assert str(sum(price for _, price in B_LEADS)) not in text
    assert f'"{B}"' not in text
    assert f"{B}~" not in text  # B's invoice ids


def forge(value: Any) -> str:
    """A cursor made by hand, in the shape the listings use (``functions.adapters.cursors``)."""
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unpack(cursor: str) -> list[Any]:
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


@pytest.fixture
def tenants(api: ModuleType, on_lead: ModuleType, aws: Resources, clock: Clock) -> dict[str, Any]:
    """A and B, each with weekly invoices on two Fridays."""
    open_contractor(A, signup=EARLIER_SIGNUP)
    open_contractor(B, signup=EARLIER_SIGNUP)
    invoices: dict[str, list[str]] = {A: [], B: []}
    for week, friday in enumerate(["2026-11-06", "2026-11-13"]):
        invoices[A].append(bill_friday(on_lead, aws, clock, friday, [A_LEADS[week]], A))
        invoices[B].append(bill_friday(on_lead, aws, clock, friday, [B_LEADS[week]], B))
    return invoices


def test_r13_as_token_against_bs_invoice_answers_404_exactly_as_an_unknown_invoice(
    api: ModuleType, tenants: dict[str, Any]
):
    # Given B's invoice, which B can read
    b_invoice = tenants[B][0]
    assert call(api, "GET", f"/me/invoices/{b_invoice}", contractor=B)[0] == 200
    # When A asks for it, and for an invoice id that was never issued
    status, body = call(api, "GET", f"/me/invoices/{b_invoice}", contractor=A)
    never = b_invoice.replace("2026-11-06", "2026-10-30")
    unknown_status, unknown_body = call(api, "GET", f"/me/invoices/{never}", contractor=A)
    # Then both answers are the same 404, naming only the id A sent
    assert (status, unknown_status) == (404, 404)
    assert body == {"error": "invoice_not_found", "message": f"no invoice {b_invoice!r}"}
    assert unknown_body == {"error": "invoice_not_found", "message": f"no invoice {never!r}"}
    assert set(body) == set(unknown_body)
    assert "B-lead-secret" not in json.dumps(body)
    assert "7777" not in json.dumps(body)


def test_r13_as_listings_carry_only_as_invoices_and_ledger_whatever_the_query_names(
    api: ModuleType, tenants: dict[str, Any]
):
    for query in ["", f"?contractor_id={B}", f"?contractor_id={B}&limit=100"]:
        status, invoices = call(api, "GET", f"/me/invoices{query}", contractor=A)
        assert status == 200
        assert [item["invoice_id"] for item in invoices["items"]] == tenants[A][::-1]
        assert {item["contractor_id"] for item in invoices["items"]} == {A}
        assert_nothing_of_b(invoices)

        status, ledger = call(api, "GET", f"/me/ledger{query}", contractor=A)
        assert status == 200
        assert [item["entry_id"] for item in ledger["items"]] == [
            entry.entry_id
            for entry in sorted(LedgerEntryModel.query(A), key=lambda e: e.recorded_key)
        ]
        assert_nothing_of_b(ledger)


@pytest.mark.parametrize("route", ["/me/invoices", "/me/ledger"])
def test_r13_bs_cursor_in_as_listing_answers_400_with_nothing_of_b(
    api: ModuleType, tenants: dict[str, Any], route: str
):
    # Given a cursor B's listing made
    status, first = call(api, "GET", f"{route}?limit=1", contractor=B)
    assert status == 200 and first["next_cursor"]
    # When A sends it
    status, body = call(api, "GET", f"{route}?limit=1&cursor={first['next_cursor']}", contractor=A)
    # Then it is refused, and nothing is read
    assert (status, body["error"]) == (400, "invalid_request")
    assert [problem["field"] for problem in body["problems"]] == ["cursor"]
    assert_nothing_of_b(body)


def test_r13_bs_invoice_cursor_rebound_to_a_is_refused(api: ModuleType, tenants: dict[str, Any]):
    # Given B's invoice cursor, with A's id written in place of B's
    _, first = call(api, "GET", "/me/invoices?limit=1", contractor=B)
    version, owner, sort_key = unpack(first["next_cursor"])
    assert owner == B
    tampered = forge([version, A, sort_key])
    # When A sends it, Then it is refused: the position is one of B's invoices
    status, body = call(api, "GET", f"/me/invoices?cursor={tampered}", contractor=A)
    assert (status, body["error"]) == (400, "invalid_request")
    assert_nothing_of_b(body)


def test_r13_bs_ledger_position_rebound_to_a_reads_only_as_ledger(
    api: ModuleType, tenants: dict[str, Any]
):
    # Given B's ledger cursor, with A's id written in place of B's
    _, first = call(api, "GET", "/me/ledger?limit=1", contractor=B)
    version, _, sort_key = unpack(first["next_cursor"])
    tampered = forge([version, A, sort_key])
    # When A sends it, Then whatever it answers holds A's entries only
    status, body = call(api, "GET", f"/me/ledger?limit=100&cursor={tampered}", contractor=A)
    assert status in (200, 400)
    assert_nothing_of_b(body)
    mine = {entry.entry_id for entry in LedgerEntryModel.query(A)}
    assert {item["entry_id"] for item in body.get("items", [])} <= mine


@pytest.mark.parametrize(
    "cursor",
    [
        "not-base64!",
        "Zm9v",  # "foo"
        forge({"c": A}),
        forge([1, A]),
        forge([2, A, "2026-11-13T16:00:00.000000Z#c-1~W2026-11-13"]),
        forge([True, A, "2026-11-13T16:00:00.000000Z#c-1~W2026-11-13"]),
        forge([1, A, "c-1~W2026-11-13"]),
        forge([1, A, "2026-11-13#c-1~W2026-11-13"]),
        forge([1, None, "2026-11-13T16:00:00.000000Z#c-1~W2026-11-13"]),
    ],
)
@pytest.mark.parametrize("route", ["/me/invoices", "/me/ledger"])
def test_a_cursor_no_listing_made_answers_400(
    api: ModuleType, tenants: dict[str, Any], route: str, cursor: str
):
    status, body = call(api, "GET", f"{route}?cursor={cursor}", contractor=A)
    assert (status, body["error"]) == (400, "invalid_request"), body
    assert "cursor" in body["message"]


def test_r13_the_operator_listing_of_an_account_refuses_another_accounts_cursor(
    api: ModuleType, tenants: dict[str, Any]
):
    _, first = call(api, "GET", "/me/invoices?limit=1", contractor=B)
    for route in ["invoices", "ledger"]:
        _, mine = call(api, "GET", f"/me/{route}?limit=1", contractor=A)
        status, body = call(
            api,
            "GET",
            f"/admin/accounts/{B}/{route}?cursor={mine['next_cursor']}",
            contractor=None,
        )
        assert (status, body["error"]) == (400, "invalid_request")
    # And B's own cursor continues B's listing there
    status, body = call(
        api, "GET", f"/admin/accounts/{B}/invoices?cursor={first['next_cursor']}", contractor=None
    )
    assert status == 200
    assert [item["invoice_id"] for item in body["items"]] == [tenants[B][0]]
