"""The daily reconciliation's comparison (``billing.reconciliation``): every way the ledger
and the processor can disagree is found, once, with its ids; agreement finds nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from functions.billing.money import Money
from functions.billing.reconciliation import (
    Difference,
    DifferenceKind,
    ProcessorPayment,
    RecordedPayment,
    day_window,
    reconcile,
)

AT = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def recorded(
    invoice: str, intent: str | None, cents: int, contractor: str = "c-1"
) -> RecordedPayment:
    return RecordedPayment(contractor, invoice, intent, Money(cents), AT)


def made(
    intent: str, invoice: str | None, cents: int, *, succeeded: bool = True, attempt: int = 1
) -> ProcessorPayment:
    return ProcessorPayment(intent, invoice, attempt, Money(cents), succeeded, AT)


def test_payments_on_both_sides_for_the_same_amounts_reconcile() -> None:
    ledger = [recorded("c-1~W1", "pi_1", 4500), recorded("c-2~W1", "pi_2", 9000, "c-2")]
    stripe = [
        made("pi_1", "c-1~W1", 4500),
        made("pi_2", "c-2~W1", 9000),
        made("pi_0", "c-1~W1", 4500, succeeded=False),  # an earlier declined attempt
        made("pi_x", None, 100),  # not the billing's
    ]
    assert reconcile(ledger, stripe) == []


def test_money_taken_and_not_recorded_is_an_unrecorded_payment() -> None:
    [difference] = reconcile([], [made("pi_1", "c-1~W1", 4500)])
    assert difference == Difference(
        DifferenceKind.UNRECORDED_PAYMENT, "c-1~W1", ("pi_1",), None, Money(4500)
    )
    assert difference.key == "unrecorded_payment~c-1~W1~pi_1"


def test_a_payment_recorded_on_another_day_is_not_unrecorded() -> None:
    assert reconcile([], [made("pi_1", "c-1~W1", 4500)], recorded_elsewhere=["pi_1"]) == []


def test_a_recorded_payment_the_processor_did_not_make_is_found() -> None:
    declined = reconcile(
        [recorded("c-1~W1", "pi_1", 4500)], [made("pi_1", "c-1~W1", 4500, succeeded=False)]
    )
    missing = reconcile([recorded("c-1~W1", "pi_9", 4500)], [])
    assert [(d.kind, d.payment_intent_ids, d.ledger_amount) for d in declined + missing] == [
        (DifferenceKind.PAYMENT_NOT_MADE, ("pi_1",), Money(4500)),
        (DifferenceKind.PAYMENT_NOT_MADE, ("pi_9",), Money(4500)),
    ]
    assert declined[0].contractor_id == "c-1"


def test_different_amounts_are_a_mismatch() -> None:
    [difference] = reconcile([recorded("c-1~W1", "pi_1", 4500)], [made("pi_1", "c-1~W1", 4400)])
    assert (difference.kind, difference.ledger_amount, difference.processor_amount) == (
        DifferenceKind.AMOUNT_MISMATCH,
        Money(4500),
        Money(4400),
    )


def test_two_succeeded_intents_for_one_invoice_are_a_double_charge() -> None:
    ledger = [recorded("c-1~W1", "pi_1", 4500)]
    stripe = [made("pi_1", "c-1~W1", 4500), made("pi_2", "c-1~W1", 4500, attempt=2)]
    kinds = {(d.kind, d.payment_intent_ids) for d in reconcile(ledger, stripe)}
    assert kinds == {
        (DifferenceKind.CHARGED_TWICE, ("pi_1", "pi_2")),
        (DifferenceKind.UNRECORDED_PAYMENT, ("pi_2",)),
    }


def test_an_invoice_paid_by_account_credit_needs_no_payment() -> None:
    assert reconcile([recorded("c-1~W1", None, 0)], []) == []


def test_a_day_is_utc_midnight_to_midnight() -> None:
    start, end = day_window(date(2026, 3, 8))  # a DST change in the US: UTC has none
    assert (start.isoformat(), end - start) == ("2026-03-08T00:00:00+00:00", timedelta(days=1))
