"""The daily reconciliation against moto and localstripe (R5, R6): the day's payments in the
ledger against Stripe's, every difference reported as a metric, a log line and an event,
and the payment attempts whose answer never came resolved without charging twice.

localstripe stamps what it makes with the machine's time, so these tests reconcile today
(UTC), with the billing's clock set to today's noon; and they use a localstripe of their
own, emptied before each test, so that no other test's charges are among the day's."""

from __future__ import annotations

import json
import time as wall
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests
import stripe

from functions.adapters.accounts import ledger_entry
from functions.adapters.invoicing import payment_day
from functions.adapters.models import AccountModel, InvoiceModel, LedgerEntryModel
from functions.billing.invoices import weekly_invoice_id
from functions.weekly_invoice.billing_run import PaymentOutcomeUnknown, WeeklyWork
from local.processes import free_port, start_stripe
from tests.integration.conftest import Clock
from tests.integration.steps import (
    deliver,
    events,
    lead,
    open_contractor,
    records_for,
    save_card,
)
from tests.support.aws import LambdaContext, Resources, sent_mail
from tests.support.cards import API_KEY, intents_of
from tests.support.payments import Fault, FaultyHttpClient

PRICE = 4_500
KINDS = ("unrecorded_payment", "payment_not_made", "amount_mismatch", "charged_twice")


@pytest.fixture(scope="module")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A localstripe of this module alone (overrides the session's)."""
    log = tmp_path_factory.mktemp("localstripe-reconcile") / "localstripe.log"
    emulator = start_stripe(free_port(), log, Path(__file__).resolve().parents[2])
    try:
        emulator.wait_ready("/js.stripe.com/v3/")
        yield emulator.url
    finally:
        emulator.stop()


@pytest.fixture
def today(localstripe: str, clock: Clock) -> date:
    """Today (UTC), with nothing in Stripe yet and the clock at its noon; never a day that
    ends while the test runs."""
    now = datetime.now(UTC)
    to_midnight = datetime.combine(now.date() + timedelta(days=1), time(0), UTC) - now
    if to_midnight < timedelta(minutes=3):
        wall.sleep(to_midnight.total_seconds() + 1)
    requests.delete(f"{localstripe}/_config/data", timeout=10).raise_for_status()
    day = datetime.now(UTC).date()
    clock.current = datetime.combine(day, time(12), UTC)
    return day


def run(reconcile: ModuleType, day: date) -> dict[str, Any]:
    """An operator's run of ``day`` (the schedule's names its instant instead)."""
    return reconcile.handler(
        {"run": "reconcile", "day": day.isoformat()}, LambdaContext(function_name="reconcile")
    )


def output(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """What the functions emitted since the last call: the ReconciliationDifferences
    figures by kind (Powertools prints them), and the log lines with their fields."""
    figures: dict[str, int] = {}
    for raw in capsys.readouterr().out.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict) and "_aws" in line and "ReconciliationDifferences" in line:
            value = line["ReconciliationDifferences"]
            figures[line["kind"]] = int(sum(value) if isinstance(value, list) else value)
    lines = [{**vars(record), "message": record.getMessage()} for record in caplog.records]
    caplog.clear()
    return figures, lines


def paid_invoice(
    on_lead: ModuleType,
    weekly_invoice: ModuleType,
    aws: Resources,
    clock: Clock,
    day: date,
    localstripe: str,
) -> str:
    """An account with a card whose lead was invoiced and paid at the clock's time; the
    invoice id."""
    cid = f"c-{uuid.uuid4().hex[:8]}"
    open_contractor(cid, signup=clock.current - timedelta(days=1))
    save_card(localstripe, cid)
    at = (clock.current - timedelta(hours=1)).isoformat()
    deliver(on_lead, records_for(aws, [lead(f"L-{cid}", PRICE, cid, at=at)]))
    invoice = weekly_invoice.run.weekly(WeeklyWork(cid, day), clock.current)
    assert invoice is not None and invoice.status.value == "paid"
    return str(invoice.invoice_id)


def contractor(invoice_id: str) -> str:
    return invoice_id.split("~")[0]


def stripe_api(localstripe: str) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": localstripe})


def succeeded(localstripe: str, invoice_id: str) -> list[str]:
    return [
        intent.id
        for intent in intents_of(stripe_api(localstripe), invoice_id)
        if intent.status == "succeeded"
    ]


def tables() -> dict[str, list[dict[str, Any]]]:
    """Every invoice and ledger entry, to tell that a run changed nothing."""
    return {
        "invoices": sorted(
            (item.serialize() for item in InvoiceModel.scan()), key=lambda i: json.dumps(i)
        ),
        "ledger": sorted(
            (item.serialize() for item in LedgerEntryModel.scan()), key=lambda i: json.dumps(i)
        ),
    }


def test_a_clean_day_has_no_difference_and_says_so(
    on_lead, weekly_invoice, reconcile, aws, clock: Clock, today: date, localstripe, capsys, caplog
):
    # Given two invoices paid today, each by its PaymentIntent, as the ledger records
    paid_invoice(on_lead, weekly_invoice, aws, clock, today, localstripe)
    paid_invoice(on_lead, weekly_invoice, aws, clock, today, localstripe)
    events(aws)
    output(capsys, caplog)

    # When the day is reconciled
    clock.current += timedelta(hours=13)
    summary = run(reconcile, today)

    # Then both payments were compared and nothing differs: the figure of every kind is 0,
    # the summary is logged, and nothing is announced
    figures, lines = output(capsys, caplog)
    assert summary == {
        "day": today.isoformat(),
        "unsettled": 0,
        "resolved": 0,
        "payments_compared": 2,
        "differences": 0,
    }
    assert figures == dict.fromkeys(KINDS, 0)
    [done] = [line for line in lines if line.get("message") == "reconciliation done"]
    assert (done["payments_compared"], done["differences"]) == (2, 0)
    assert [line for line in lines if line.get("message") == "reconciliation difference"] == []
    assert events(aws, "ReconciliationDifference") == []


def introduce_differences(
    on_lead, weekly_invoice, aws, clock: Clock, today: date, localstripe: str
) -> dict[str, Any]:
    """Given a day with one clean payment and one difference of each kind but a double
    charge: a PaymentIntent made in Stripe for an invoice the ledger has no payment of,
    a ledger payment whose PaymentIntent Stripe does not have, and a ledger payment for
    another amount than its PaymentIntent's."""
    paid_invoice(on_lead, weekly_invoice, aws, clock, today, localstripe)

    # Unrecorded: charged in Stripe directly, with the metadata the billing writes.
    clean = paid_invoice(on_lead, weekly_invoice, aws, clock, today, localstripe)
    owner = AccountModel.get(contractor(clean))
    stray_invoice = f"{contractor(clean)}~T000042"
    stray = stripe_api(localstripe).v1.payment_intents.create(
        params={
            "amount": 1_234,
            "currency": "usd",
            "customer": owner.stripe_customer_id,
            "payment_method": owner.card.payment_method_id,
            "off_session": True,
            "confirm": True,
            "metadata": {"invoice_id": stray_invoice, "attempt": "1"},
        }
    )
    assert stray.status == "succeeded"

    # Not made: a payment recorded with a PaymentIntent Stripe never made.
    ghost_contractor = f"c-{uuid.uuid4().hex[:8]}"
    ghost_invoice = weekly_invoice_id(ghost_contractor, today)
    ghost_intent = f"pi_ghost{uuid.uuid4().hex[:12]}"
    ledger_entry(
        ghost_contractor,
        f"payment#{ghost_invoice}",
        "payment",
        clock.current,
        amount_cents=2_000,
        reason=ghost_intent,
        detail=ghost_invoice,
        payment_day=payment_day(clock.current),
    ).save()

    # Amount mismatch: the ledger's payment says 100 cents less than Stripe took.
    changed = paid_invoice(on_lead, weekly_invoice, aws, clock, today, localstripe)
    entry = LedgerEntryModel.get(contractor(changed), f"payment#{changed}")
    entry.update(actions=[LedgerEntryModel.amount_cents.set(PRICE - 100)])
    [changed_intent] = succeeded(localstripe, changed)
    return {
        "unrecorded_payment": {
            "contractor_id": None,
            "invoice_id": stray_invoice,
            "payment_intent_ids": [stray.id],
            "ledger_amount_cents": None,
            "processor_amount_cents": 1_234,
        },
        "payment_not_made": {
            "contractor_id": ghost_contractor,
            "invoice_id": ghost_invoice,
            "payment_intent_ids": [ghost_intent],
            "ledger_amount_cents": 2_000,
            "processor_amount_cents": None,
        },
        "amount_mismatch": {
            "contractor_id": contractor(changed),
            "invoice_id": changed,
            "payment_intent_ids": [changed_intent],
            "ledger_amount_cents": PRICE - 100,
            "processor_amount_cents": PRICE,
        },
    }


def test_each_difference_is_a_metric_a_log_line_and_an_event_with_its_ids(
    on_lead, weekly_invoice, reconcile, aws, clock: Clock, today: date, localstripe, capsys, caplog
):
    expected = introduce_differences(on_lead, weekly_invoice, aws, clock, today, localstripe)
    events(aws)
    output(capsys, caplog)

    # When the day is reconciled
    clock.current += timedelta(hours=13)
    summary = run(reconcile, today)

    # Then each difference is counted under its kind
    figures, lines = output(capsys, caplog)
    assert summary["differences"] == 3
    assert figures == {kind: int(kind in expected) for kind in KINDS}
    # And logged once, with its ids and amounts in cents
    logged = {
        line["kind"]: line for line in lines if line.get("message") == "reconciliation difference"
    }
    assert set(logged) == set(expected)
    for kind, ids in expected.items():
        assert {name: logged[kind][name] for name in ids} == ids
        assert logged[kind]["day"] == today.isoformat()
    # And announced on the billing bus, each keyed by the day, its kind and its ids
    announced = {e["detail"]["kind"]: e["detail"] for e in events(aws, "ReconciliationDifference")}
    assert set(announced) == set(expected)
    for kind, ids in expected.items():
        detail = announced[kind]
        assert {name: detail[name] for name in ids} == ids
        assert detail["day"] == today.isoformat()
        assert detail["event_id"] == (
            f"ReconciliationDifference:{today.isoformat()}:{kind}:{ids['invoice_id']}:"
            f"{'+'.join(ids['payment_intent_ids'])}"
        )
        assert logged[kind]["event_id"] == detail["event_id"]
    # And the summary says how many payments were compared
    [done] = [line for line in lines if line.get("message") == "reconciliation done"]
    assert (done["payments_compared"], done["differences"]) == (5, 3)


def test_the_same_day_run_again_announces_the_same_event_ids_and_changes_nothing(
    on_lead, weekly_invoice, reconcile, aws, clock: Clock, today: date, localstripe
):
    introduce_differences(on_lead, weekly_invoice, aws, clock, today, localstripe)
    events(aws)
    clock.current += timedelta(hours=13)
    run(reconcile, today)
    first = sorted(e["detail"]["event_id"] for e in events(aws))
    before, intents, mail = (
        tables(),
        len(stripe_api(localstripe).v1.payment_intents.list(params={"limit": 100}).data),
        len(sent_mail()),
    )

    # When the same day is reconciled again (a retried run, an operator's re-run), later
    clock.current += timedelta(hours=2)
    run(reconcile, today)

    # Then the same facts are announced under the same ids, and nothing else changed
    assert sorted(e["detail"]["event_id"] for e in events(aws)) == first
    assert len(first) == 3
    assert tables() == before
    assert len(stripe_api(localstripe).v1.payment_intents.list(params={"limit": 100}).data) == (
        intents
    )
    assert len(sent_mail()) == mail


def faulty_stripe(monkeypatch: pytest.MonkeyPatch, *faults: Fault) -> FaultyHttpClient:
    """Stripe behind a client that fails the next requests with ``faults``, retried with no
    delay (the faults are immediate)."""
    from functions.adapters import payments as payments_adapter

    http = FaultyHttpClient()
    http.fail_next(*faults)
    original = payments_adapter.stripe_client
    monkeypatch.setattr(
        payments_adapter,
        "stripe_client",
        lambda key, base=None: original(key, base, http_client=http),
    )

    def unpaced(secrets, request_interval=0.0):
        return payments_adapter.StripePayments(
            payments_adapter.stripe_client(secrets.api_key, secrets.api_base),
            sleep=lambda seconds: None,
        )

    monkeypatch.setattr(payments_adapter, "stripe_payments", unpaced)
    return http


def unknown_attempt(
    on_lead, weekly_invoice, aws, clock: Clock, today: date, localstripe: str
) -> str:
    """An account whose invoice's first attempt has no known outcome; the invoice id."""
    cid = f"c-{uuid.uuid4().hex[:8]}"
    open_contractor(cid, signup=clock.current - timedelta(days=1))
    save_card(localstripe, cid)
    at = (clock.current - timedelta(hours=1)).isoformat()
    deliver(on_lead, records_for(aws, [lead(f"L-{cid}", PRICE, cid, at=at)]))
    with pytest.raises(PaymentOutcomeUnknown):
        weekly_invoice.run.weekly(WeeklyWork(cid, today), clock.current)
    invoice_id = weekly_invoice_id(cid, today)
    assert [a.outcome for a in InvoiceModel.get(invoice_id).attempts] == ["unknown"]
    return invoice_id


def test_an_unknown_attempt_that_stripe_charged_is_settled_paid_without_charging_again(
    on_lead, weekly_invoice, reconcile, aws, clock: Clock, today: date, localstripe, monkeypatch
):
    # Given an invoice whose charge Stripe made, but whose answer was lost through every retry
    faulty_stripe(monkeypatch, Fault.LOST_ANSWER, *[Fault.SERVER_ERROR] * 3)
    invoice_id = unknown_attempt(on_lead, weekly_invoice, aws, clock, today, localstripe)
    [intent] = succeeded(localstripe, invoice_id)
    events(aws)

    # When the reconciliation runs after the attempt's in-flight window
    clock.current += timedelta(minutes=11)
    summary = run(reconcile, today)

    # Then the attempt is settled from Stripe's record: paid by that PaymentIntent, which
    # the ledger records; no second charge; the day then reconciles clean
    invoice = InvoiceModel.get(invoice_id)
    assert invoice.status == "paid"
    assert [(a.outcome, a.payment_intent_id) for a in invoice.attempts] == [("succeeded", intent)]
    assert invoice.unsettled_shard is None
    payment = LedgerEntryModel.get(contractor(invoice_id), f"payment#{invoice_id}")
    assert (payment.reason, payment.amount_cents) == (intent, PRICE)
    assert succeeded(localstripe, invoice_id) == [intent]
    assert summary["unsettled"] == summary["resolved"] == 1
    assert summary["differences"] == 0
    # And announced as the Friday run would have: issued and paid, and emailed once (R5)
    announced = {e["detail"]["event_id"] for e in events(aws)}
    assert announced == {f"InvoiceIssued:{invoice_id}", f"InvoicePaid:{invoice_id}"}
    assert len(sent_mail()) == 1


def test_an_unknown_attempt_that_never_reached_stripe_is_charged_once_and_collected(
    on_lead, weekly_invoice, reconcile, aws, clock: Clock, today: date, localstripe, monkeypatch
):
    # Given an invoice whose charge never reached Stripe (every try timed out before it)
    faulty_stripe(monkeypatch, *[Fault.TIMEOUT] * 4)
    invoice_id = unknown_attempt(on_lead, weekly_invoice, aws, clock, today, localstripe)
    assert succeeded(localstripe, invoice_id) == []
    events(aws)

    # When the reconciliation runs after the attempt's in-flight window, twice
    clock.current += timedelta(minutes=11)
    run(reconcile, today)
    clock.current += timedelta(minutes=30)
    again = run(reconcile, today)

    # Then the attempt was made once, under its own number, and collected
    invoice = InvoiceModel.get(invoice_id)
    [intent] = succeeded(localstripe, invoice_id)
    assert invoice.status == "paid"
    assert [(int(a.number), a.outcome, a.payment_intent_id) for a in invoice.attempts] == [
        (1, "succeeded", intent)
    ]
    assert len(intents_of(stripe_api(localstripe), invoice_id)) == 1
    assert (again["unsettled"], again["resolved"], again["differences"]) == (0, 0, 0)
    announced = [e["detail"]["event_id"] for e in events(aws)]
    assert sorted(announced) == [f"InvoiceIssued:{invoice_id}", f"InvoicePaid:{invoice_id}"]
    assert len(sent_mail()) == 1


def test_an_attempt_younger_than_its_in_flight_window_is_left_alone(
    on_lead, weekly_invoice, reconcile, aws, clock: Clock, today: date, localstripe, monkeypatch
):
    # Given an invoice whose charge never reached Stripe five minutes ago
    faulty_stripe(monkeypatch, *[Fault.TIMEOUT] * 4)
    invoice_id = unknown_attempt(on_lead, weekly_invoice, aws, clock, today, localstripe)
    events(aws)

    # When the reconciliation runs within the attempt's in-flight window
    clock.current += timedelta(minutes=5)
    summary = run(reconcile, today)

    # Then the attempt may still be under way elsewhere: nothing is charged or settled
    assert (summary["unsettled"], summary["resolved"]) == (0, 0)
    assert [a.outcome for a in InvoiceModel.get(invoice_id).attempts] == ["unknown"]
    assert InvoiceModel.get(invoice_id).status == "open"
    assert intents_of(stripe_api(localstripe), invoice_id) == []
    assert events(aws) == []
    assert sent_mail() == []


@pytest.mark.parametrize(
    ("event", "day"),
    [
        # The schedule's instant: the UTC day before it, however late a retry runs.
        ({"run": "reconcile", "scheduled_time": "2026-11-28T01:00:00Z"}, date(2026, 11, 27)),
        ({"run": "reconcile", "scheduled_time": "2026-11-28T00:30:00-06:00"}, date(2026, 11, 27)),
        # An operator's day.
        ({"run": "reconcile", "day": "2026-11-01"}, date(2026, 11, 1)),
        # Neither: the UTC day before the function's clock.
        ({"run": "reconcile"}, date(2026, 12, 2)),
    ],
)
def test_the_day_reconciled_is_the_one_asked_or_the_utc_day_before_the_schedule(event, day):
    from functions.reconcile.reconcile_run import parse_run

    assert parse_run(event, datetime(2026, 12, 3, 0, 10, tzinfo=UTC)) == day


@pytest.mark.parametrize(
    "event", [{"run": "grace_check"}, {"run": "reconcile", "day": "27/11/2026"}, [], None]
)
def test_anything_else_is_not_a_reconciliation_run(event):
    from functions.reconcile.reconcile_run import InvalidRun, parse_run

    with pytest.raises(InvalidRun):
        parse_run(event, datetime(2026, 12, 3, tzinfo=UTC))
