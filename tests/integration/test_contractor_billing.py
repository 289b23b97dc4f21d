"""The contractor's billing routes of the api function against moto: GET /me/billing
(R13) and PUT /me/budget (R8). The contractor is the one the verified claims name."""

from __future__ import annotations

import json
from datetime import date, datetime
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from functions.adapters.accounts import card_item
from functions.adapters.invoicing import InvoiceStore
from functions.adapters.models import AccountModel, LedgerEntryModel
from functions.billing.account import MAX_BUDGET
from functions.billing.invoices import (
    AttemptOutcome,
    Card,
    InvoiceKind,
    PaymentAttempt,
    weekly_invoice_id,
)
from functions.usecases.billing_view import WEEKLY_RUN_HOUR
from tests.integration.conftest import Clock
from tests.integration.steps import (
    EARLIER_SIGNUP,
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


CHICAGO = ZoneInfo("America/Chicago")


def chicago(day: str, hour: int, minute: int = 0) -> str:
    """``day`` at ``hour:minute`` in Chicago, ISO 8601 with the offset of that day."""
    local = datetime.combine(date.fromisoformat(day), datetime.min.time(), tzinfo=CHICAGO)
    return local.replace(hour=hour, minute=minute).isoformat()


def bill_friday(
    on_lead: ModuleType,
    aws: Resources,
    clock: Clock,
    friday: str,
    leads: list[tuple[str, int]],
    contractor_id: str = "c-1",
) -> str:
    """Deliver ``leads`` (id, price) to ``contractor_id`` at 09:00 on ``friday`` in
    Chicago, then issue that Friday's weekly invoice at 10:00; its id."""
    clock.set(chicago(friday, 10))
    deliver(
        on_lead,
        records_for(
            aws,
            [lead(lead_id, price, contractor_id, chicago(friday, 9)) for lead_id, price in leads],
        ),
    )
    invoice_id = weekly_invoice_id(contractor_id, date.fromisoformat(friday))
    assert InvoiceStore().issue(contractor_id, invoice_id, InvoiceKind.WEEKLY, clock.now())
    return invoice_id


def pages(api: ModuleType, path: str, limit: int, contractor: str = "c-1") -> list[dict]:
    """Every page of a listing, following ``next_cursor`` until it is null."""
    got: list[dict] = []
    cursor = None
    while True:
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        status, body = call(api, "GET", path + query, contractor=contractor)
        assert status == 200, body
        assert len(body["items"]) <= limit
        got.append(body)
        cursor = body["next_cursor"]
        if cursor is None:
            return got
        assert len(body["items"]) == limit  # only a full page says there is more


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


def test_r13_the_billing_state_says_how_far_the_threshold_is_and_when_the_next_invoice_comes(
    api, on_lead, aws: Resources, clock: Clock
):
    # Given an account with $45.00 unbilled, a Wednesday afternoon in Chicago
    open_contractor()
    clock.set("2026-11-18T09:00:00-06:00")
    deliver(on_lead, records_for(aws, [lead("L1", 4_500, at="2026-11-18T08:00:00-06:00")]))
    clock.set("2026-11-18T15:00:00-06:00")
    # When the contractor reads their billing
    status, body = call(api, "GET", "/me/billing")
    # Then it shows every R13 field, the threshold's distance and the Friday run to come
    assert status == 200
    assert (body["status"], body["pauses"], body["grace_ends_at"]) == ("active", [], None)
    assert body["budget"] == {
        "monthly_cents": 100_000,
        "spent_cents": 4_500,
        "remaining_cents": 95_500,
        "period_start": "2026-11-15T00:00:00-06:00",
        "next_reset": "2026-12-15T00:00:00-06:00",
    }
    assert (body["unbilled_cents"], body["past_due_cents"], body["credit_cents"]) == (4_500, 0, 0)
    assert (body["threshold_cents"], body["threshold_remaining_cents"]) == (20_000, 15_500)
    assert body["next_invoice"] == {"kind": "weekly", "at": "2026-11-20T06:00:00-06:00"}


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-11-20T05:59:59-06:00", "2026-11-20T06:00:00-06:00"),  # Friday, before the run
        ("2026-11-20T06:00:00-06:00", "2026-11-27T06:00:00-06:00"),  # the run's instant
        ("2026-11-21T00:30:00-06:00", "2026-11-27T06:00:00-06:00"),  # Saturday
        ("2026-11-21T05:30:00Z", "2026-11-27T06:00:00-06:00"),  # Friday in UTC, not in Chicago
        ("2026-10-29T12:00:00-05:00", "2026-10-30T06:00:00-05:00"),  # before the DST change
        ("2026-10-30T07:00:00-05:00", "2026-11-06T06:00:00-06:00"),  # across it
    ],
)
def test_r3_the_next_weekly_invoice_is_the_next_friday_0600_in_the_accounts_timezone(
    api, clock: Clock, now: str, expected: str
):
    open_contractor(signup=EARLIER_SIGNUP)
    clock.set(now)
    assert call(api, "GET", "/me/billing")[1]["next_invoice"] == {"kind": "weekly", "at": expected}


def test_r3_the_next_weekly_run_is_the_hour_the_schedules_fire():
    from infra.weekly_invoice import FRIDAY_RUN

    assert f"cron(0 {WEEKLY_RUN_HOUR} ? * FRI *)" == FRIDAY_RUN


def test_r4_unbilled_charges_at_the_threshold_are_invoiced_now_not_on_friday(
    api, on_lead, aws: Resources, clock: Clock
):
    # Given charges that reach the account's threshold (20000)
    open_contractor()
    clock.set("2026-11-18T09:00:00-06:00")
    deliver(
        on_lead,
        records_for(
            aws,
            [
                lead("L1", 12_000, at="2026-11-18T08:00:00-06:00"),
                lead("L2", 8_000, at="2026-11-18T08:30:00-06:00"),
            ],
        ),
    )
    assert account().invoice_due
    # When the contractor reads their billing before the threshold invoice is issued
    _, body = call(api, "GET", "/me/billing")
    # Then the next invoice is the threshold's, due now, and nothing is left to the threshold
    assert body["next_invoice"] == {"kind": "threshold", "at": "2026-11-18T09:00:00-06:00"}
    assert (body["unbilled_cents"], body["threshold_remaining_cents"]) == (20_000, 0)
    # And once it is issued, the next one is Friday's again
    InvoiceStore().issue("c-1", "c-1~T000000", InvoiceKind.THRESHOLD, clock.now())
    _, body = call(api, "GET", "/me/billing")
    assert body["next_invoice"] == {"kind": "weekly", "at": "2026-11-20T06:00:00-06:00"}
    assert (body["unbilled_cents"], body["threshold_remaining_cents"]) == (0, 20_000)


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


# ---------------------------------------------------------------- GET /me/invoices


FRIDAYS = ["2026-10-16", "2026-10-23", "2026-10-30", "2026-11-06", "2026-11-13"]


@pytest.mark.parametrize("limit", [1, 2, 5, 100])
def test_r13_the_contractors_invoices_come_newest_first_a_page_at_a_time(
    api, on_lead, aws: Resources, clock: Clock, limit: int
):
    # Given five weekly invoices
    open_contractor(signup=EARLIER_SIGNUP)
    issued = [
        bill_friday(on_lead, aws, clock, friday, [(f"L{week}", 1_000 + week)])
        for week, friday in enumerate(FRIDAYS)
    ]
    # When the contractor pages through them
    listing = pages(api, "/me/invoices", limit)
    # Then every invoice comes once, newest first, in as few pages as the limit allows
    got = [item["invoice_id"] for page in listing for item in page["items"]]
    assert got == issued[::-1]
    assert len(listing) == -(-len(issued) // limit)
    newest = listing[0]["items"][0]
    assert newest == {
        "invoice_id": "c-1~W2026-11-13",
        "contractor_id": "c-1",
        "kind": "weekly",
        "status": "open",
        "issued_at": "2026-11-13T10:00:00-06:00",
        "total_cents": 1_004,
        "credit_applied_cents": 0,
        "amount_due_cents": 1_004,
    }
    # Before the DST change, the offset of that day
    assert listing[-1]["items"][-1]["issued_at"] == "2026-10-16T10:00:00-05:00"


def test_r13_a_contractor_without_invoices_gets_an_empty_list(api):
    open_contractor()
    assert call(api, "GET", "/me/invoices") == (200, {"items": [], "next_cursor": None})


def test_r13_an_invoice_shows_its_leads_attempts_and_total(
    api, on_lead, aws: Resources, clock: Clock
):
    # Given an invoice of two leads, declined once, then paid with a card
    open_contractor()
    invoice_id = bill_friday(on_lead, aws, clock, "2026-11-20", [("L1", 4_500), ("L2", 3_000)])
    store = InvoiceStore()
    invoice = store.get(invoice_id)
    assert invoice is not None
    clock.set("2026-11-20T10:01:00-06:00")
    store.start_attempt(invoice, PaymentAttempt(1, clock.now(), AttemptOutcome.UNKNOWN))
    store.settle_attempt(
        invoice,
        PaymentAttempt(1, clock.now(), AttemptOutcome.DECLINED, "pi_1", "card_declined"),
        clock.now(),
    )
    clock.set("2026-11-21T08:00:00-06:00")
    card = Card("pm_2", "mastercard", "4444", 3, 2029)
    store.start_attempt(invoice, PaymentAttempt(2, clock.now(), AttemptOutcome.UNKNOWN))
    store.settle_attempt(
        invoice,
        PaymentAttempt(2, clock.now(), AttemptOutcome.SUCCEEDED, "pi_2", card=card),
        clock.now(),
    )
    # When the contractor opens it
    status, body = call(api, "GET", f"/me/invoices/{invoice_id}")
    # Then it shows every lead with its date, category and price, each attempt, the total
    assert status == 200
    assert body == {
        "invoice_id": invoice_id,
        "contractor_id": "c-1",
        "kind": "weekly",
        "status": "paid",
        "issued_at": "2026-11-20T10:00:00-06:00",
        "total_cents": 7_500,
        "credit_applied_cents": 0,
        "amount_due_cents": 7_500,
        "lead_count": 2,
        "lines": [
            {
                "lead_id": "L1",
                "delivered_at": "2026-11-20T09:00:00-06:00",
                "category": "roofing",
                "amount_cents": 4_500,
            },
            {
                "lead_id": "L2",
                "delivered_at": "2026-11-20T09:00:00-06:00",
                "category": "roofing",
                "amount_cents": 3_000,
            },
        ],
        "attempts": [
            {
                "number": 1,
                "at": "2026-11-20T10:01:00-06:00",
                "payment_intent_id": "pi_1",
                "outcome": "declined",
                "decline_code": "card_declined",
            },
            {
                "number": 2,
                "at": "2026-11-21T08:00:00-06:00",
                "payment_intent_id": "pi_2",
                "outcome": "succeeded",
                "decline_code": None,
            },
        ],
        "paid_with": {"brand": "mastercard", "last4": "4444"},
    }


def test_r13_an_unknown_invoice_answers_404(api):
    open_contractor()
    status, body = call(api, "GET", "/me/invoices/c-1~W2026-11-20")
    assert (status, body) == (
        404,
        {"error": "invoice_not_found", "message": "no invoice 'c-1~W2026-11-20'"},
    )


# ---------------------------------------------------------------- GET /me/ledger


def test_r12_r13_the_ledger_shows_every_entry_in_the_order_it_was_recorded(
    api, on_lead, aws: Resources, clock: Clock
):
    # Given a charge, a lead that does not fit the budget (rejected, the account paused),
    # and an invoice
    open_contractor(budget=10_000)
    clock.set("2026-11-20T09:00:00-06:00")
    deliver(on_lead, records_for(aws, [lead("L1", 6_000, at="2026-11-20T08:00:00-06:00")]))
    clock.set("2026-11-20T09:30:00-06:00")
    deliver(on_lead, records_for(aws, [lead("L2", 5_000, at="2026-11-20T09:10:00-06:00")]))
    clock.set("2026-11-20T10:00:00-06:00")
    invoice_id = weekly_invoice_id("c-1", date(2026, 11, 20))
    InvoiceStore().issue("c-1", invoice_id, InvoiceKind.WEEKLY, clock.now())
    # When the contractor reads their ledger
    status, body = call(api, "GET", "/me/ledger")
    # Then each entry shows what it records, in local time, oldest first
    assert status == 200
    assert body["next_cursor"] is None
    period, charge, rejected, paused, issued = body["items"]
    # What an entry's kind does not carry is null.
    carried = dict.fromkeys(
        ("lead_id", "category", "delivered_at", "invoice_id", "period_start", "reason", "detail")
    )
    assert period == {
        **carried,
        "entry_id": "period#2026-11-15T06:00:00.000000Z",
        "kind": "budget_period_started",
        "recorded_at": "2026-11-15T11:00:00-06:00",
        "amount_cents": 0,
        "period_start": "2026-11-15T00:00:00-06:00",
    }
    assert charge == {
        **carried,
        "entry_id": "lead#L1",
        "kind": "charge",
        "recorded_at": "2026-11-20T09:00:00-06:00",
        "amount_cents": 6_000,
        "lead_id": "L1",
        "category": "roofing",
        "delivered_at": "2026-11-20T08:00:00-06:00",
        "invoice_id": invoice_id,
    }
    assert rejected == {
        **carried,
        "entry_id": "lead#L2",
        "kind": "lead_rejected",
        "recorded_at": "2026-11-20T09:30:00-06:00",
        "amount_cents": 0,
        "lead_id": "L2",
        "category": "roofing",
        "delivered_at": "2026-11-20T09:10:00-06:00",
        "reason": "budget",
        "detail": rejected["detail"],
    }
    assert (paused["kind"], paused["reason"]) == ("account_paused", "budget")
    assert paused["recorded_at"] == "2026-11-20T09:30:00-06:00"
    assert issued["kind"] == "invoice_issued"
    assert (issued["amount_cents"], issued["detail"]) == (6_000, invoice_id)


@pytest.mark.parametrize("limit", [1, 3, 100])
def test_r13_the_ledger_pages_have_no_gap_and_no_repeat(
    api, on_lead, aws: Resources, clock: Clock, limit: int
):
    # Given a ledger of a dozen entries
    open_contractor(signup=EARLIER_SIGNUP)
    for week, friday in enumerate(FRIDAYS[:3]):
        bill_friday(on_lead, aws, clock, friday, [(f"L{week}a", 1_000), (f"L{week}b", 2_000)])
    stored = sorted(LedgerEntryModel.query("c-1"), key=lambda entry: entry.recorded_key)
    assert len(stored) >= 10
    # When the contractor pages through it
    listing = pages(api, "/me/ledger", limit)
    # Then every entry comes exactly once, in the order it was recorded
    got = [item["entry_id"] for page in listing for item in page["items"]]
    assert got == [entry.entry_id for entry in stored]
    assert len(listing) == -(-len(stored) // limit)


@pytest.mark.parametrize("route", ["/me/invoices", "/me/ledger"])
@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=101", "limit=-1", "limit=ten", "limit=2.5", "cursor=" + "A" * 1025],
)
def test_a_listing_refuses_a_bad_limit_or_cursor_with_400(api, route: str, query: str):
    open_contractor()
    status, body = call(api, "GET", f"{route}?{query}")
    assert status == 400, body
    assert body["error"] == "invalid_request"
    assert query.split("=")[0] in body["message"]


@pytest.mark.parametrize("route", ["/me/invoices", "/me/ledger", "/me/invoices/c-1~W2026-11-20"])
def test_the_read_routes_require_verified_claims(api, route: str):
    open_contractor()
    status, body = call(api, "GET", route, contractor=None)
    assert (status, body["error"]) == (401, "unauthenticated")


@pytest.mark.parametrize("route", ["/me/invoices", "/me/ledger", "/me/invoices/nobody~W2026-11-20"])
def test_the_read_routes_of_a_contractor_without_an_account_answer_404(api, route: str):
    status, body = call(api, "GET", route, contractor="nobody")
    assert (status, body["error"]) == (404, "account_not_found")
