"""Lead credits (R1, R2, R4, R6, R8): a bad lead's charge taken back once, off the unbilled
charges or as account credit taken off the next invoice, which is never negative; and the
operator's change of an account's details (R4, R5, R14)."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pypdf import PdfReader

from functions.adapters.invoice_email import render_invoice_email
from functions.billing.account import AccountError, AccountManager, Locale, PauseReason
from functions.billing.account_details import (
    DetailChanges,
    TimezoneChangeRefused,
    change_details,
)
from functions.billing.credits import (
    Charge,
    CreditKind,
    CreditMismatch,
    InvalidCredit,
    credit_charge,
    credit_to_apply,
    validate_reason,
)
from functions.billing.events import AccountReactivated, LeadCredited
from functions.billing.invoices import (
    AttemptOutcome,
    Card,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    PaymentAttempt,
    record_attempt,
    weekly_invoice_id,
)
from functions.billing.money import Money
from tests.unit.support import at_local, make_account

CHICAGO = "America/Chicago"
# The account of tests.unit.support signed up on 15 January 2024 in Chicago: its period
# holding T runs from 15 January to 15 February.
T = at_local(CHICAGO, 2024, 1, 20, 12)
DELIVERED = at_local(CHICAGO, 2024, 1, 18, 9)
LAST_PERIOD = at_local(CHICAGO, 2024, 1, 10, 9)  # before the period started
PAUSED_SINCE = at_local(CHICAGO, 2024, 1, 19, 8)


def charge(amount: int = 2_500, *, invoice_id: str | None = None, delivered=DELIVERED) -> Charge:
    return Charge("contractor-1", "lead-9", Money(amount), delivered, invoice_id)


def account_with(spent: int = 6_000, unbilled: int = 6_000, **changes):
    return make_account(spent=Money(spent), unbilled=Money(unbilled), **changes)


# -- A charge not invoiced yet ------------------------------------------------------------


def test_given_an_unbilled_charge_when_credited_then_it_leaves_the_unbilled_and_the_spend():
    # Given an account that spent 60.00 in this period, all of it unbilled
    account = account_with()

    # When the 25.00 charge of a bad lead delivered in this period is credited
    credited = credit_charge(account, charge(), "wrong phone number", T)

    # Then the unbilled total and the spend drop by its amount, and the budget it frees
    # remains; nothing becomes account credit
    after = credited.account
    assert after.unbilled == Money(3_500)
    assert after.spent == Money(3_500)
    assert after.remaining == Money(6_500)
    assert after.credit == Money(0)
    assert after.invoice_headroom == account.invoice_headroom + Money(2_500)
    credit = credited.credit
    assert (credit.kind, credit.amount, credit.invoice_id) == (
        CreditKind.UNBILLED,
        Money(2_500),
        None,
    )
    assert credit.budget_returned
    assert credit.reason == "wrong phone number"
    assert credit.events() == [
        LeadCredited(
            "contractor-1", "lead-9", Money(2_500), "unbilled", None, "wrong phone number", T
        )
    ]
    assert credit.events()[0].event_id == "LeadCredited:lead-9"


def test_r8_a_credit_that_takes_the_spend_below_the_budget_lifts_a_budget_pause():
    # Given an account paused for budget: it spent its whole budget
    account = account_with(spent=10_000, unbilled=10_000).with_pauses(
        {PauseReason.BUDGET: PAUSED_SINCE}
    )

    # When a charge of this period is credited
    credited = credit_charge(account, charge(), "duplicate lead", T)

    # Then the pause lifts at once, announced as a budget reactivation
    assert credited.account.pauses == {}
    assert credited.credit.reactivated_paused_since == PAUSED_SINCE
    assert credited.credit.events()[1:] == [
        AccountReactivated("contractor-1", PauseReason.BUDGET, T, paused_since=PAUSED_SINCE)
    ]


def test_r12_a_credit_never_lifts_a_non_payment_pause():
    account = account_with(spent=10_000, unbilled=10_000).with_pauses(
        {PauseReason.BUDGET: PAUSED_SINCE, PauseReason.NON_PAYMENT: PAUSED_SINCE}
    )
    credited = credit_charge(account, charge(), "duplicate lead", T)
    assert set(credited.account.pauses) == {PauseReason.NON_PAYMENT}
    assert credited.account.paused


def test_r8_a_charge_of_a_period_that_ended_gives_nothing_back_to_this_period():
    # Given a charge delivered before the current period started, still unbilled
    account = account_with(spent=1_000, unbilled=3_500)

    # When it is credited
    credited = credit_charge(account, charge(delivered=LAST_PERIOD), "bad lead", T)

    # Then it leaves the unbilled charges, but the current period's spend stays
    assert credited.account.unbilled == Money(1_000)
    assert credited.account.spent == Money(1_000)
    assert not credited.credit.budget_returned


def test_r4_a_threshold_invoice_stays_due_only_while_the_unbilled_charges_reach_it():
    due = account_with(spent=20_500, unbilled=20_500, invoice_due=True, budget=50_000)
    below = credit_charge(due, charge(1_000), "bad lead", T).account
    assert below.unbilled == Money(19_500)
    assert not below.invoice_due
    still = credit_charge(replace(due, unbilled=Money(30_000)), charge(1_000), "bad", T).account
    assert still.invoice_due


# -- A charge invoiced already ------------------------------------------------------------


def test_given_an_invoiced_charge_when_credited_then_it_becomes_account_credit():
    account = account_with(unbilled=0, credit=Money(700))

    credited = credit_charge(account, charge(invoice_id="c~W2024-01-19"), "no such address", T)

    after = credited.account
    assert after.credit == Money(3_200)
    assert after.unbilled == Money(0)
    assert after.spent == Money(3_500)  # delivered in this period: the budget is freed too
    credit = credited.credit
    assert (credit.kind, credit.invoice_id) == (CreditKind.ACCOUNT_CREDIT, "c~W2024-01-19")
    [event] = credit.events()
    assert isinstance(event, LeadCredited)
    assert (event.kind, event.invoice_id) == ("account_credit", "c~W2024-01-19")


def test_a_credit_refuses_a_charge_the_account_cannot_hold():
    with pytest.raises(CreditMismatch):
        credit_charge(account_with(spent=1_000), charge(2_500), "bad lead", T)
    with pytest.raises(CreditMismatch):
        credit_charge(account_with(unbilled=1_000), charge(2_500), "bad lead", T)
    with pytest.raises(ValueError):
        credit_charge(account_with(contractor_id="other"), charge(), "bad lead", T)
    with pytest.raises(ValueError):  # the account must be rolled over first
        credit_charge(account_with(), charge(), "bad lead", at_local(CHICAGO, 2024, 2, 20))


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501, None, 7])
def test_a_credit_needs_a_reason_of_1_to_500_characters(reason):
    with pytest.raises(InvalidCredit):
        validate_reason(reason)
    assert validate_reason("  bad lead ") == "bad lead"
    assert validate_reason("x" * 500) == "x" * 500


# -- The credit on the next invoice -------------------------------------------------------


LINE = InvoiceLine("L1", DELIVERED, "roofing", Money(4_500))


def invoice(credit_applied: int = 0, *lines: InvoiceLine) -> Invoice:
    return Invoice(
        invoice_id=weekly_invoice_id("contractor-1", date(2024, 1, 19)),
        contractor_id="contractor-1",
        kind=InvoiceKind.WEEKLY,
        issued_at=datetime(2024, 1, 19, 12, tzinfo=UTC),
        lines=lines or (LINE,),
        credit_applied=Money(credit_applied),
    )


@pytest.mark.parametrize(
    ("credit", "total", "applied", "left"),
    [
        (0, 4_500, 0, 0),
        (1_000, 4_500, 1_000, 0),  # less than the invoice: all of it
        (4_500, 4_500, 4_500, 0),  # exactly the invoice: nothing is charged
        (7_000, 4_500, 4_500, 2_500),  # more than the invoice: the rest stays on the account
    ],
)
def test_the_next_invoice_takes_the_credit_up_to_its_total(credit, total, applied, left):
    taken = credit_to_apply(Money(credit), Money(total))
    assert taken == Money(applied)
    assert Money(credit) - taken == Money(left)
    issued = invoice(taken.cents)
    assert issued.total == Money(4_500)
    assert issued.credit_applied == Money(applied)
    assert issued.amount_due == Money(total - applied)


@given(credit=st.integers(-(10**6), 10**8), total=st.integers(1, 10**8))
def test_property_an_invoice_with_credit_is_never_negative(credit: int, total: int):
    taken = credit_to_apply(Money(credit), Money(total))
    assert Money(0) <= taken <= Money(total)
    issued = invoice(taken.cents, replace(LINE, amount=Money(total)))
    assert Money(0) <= issued.amount_due <= issued.total


@pytest.mark.parametrize("credit_applied", [-1, 4_501])
def test_an_invoice_refuses_a_credit_below_zero_or_above_its_total(credit_applied: int):
    with pytest.raises(ValueError, match="never negative"):
        invoice(credit_applied)


# -- The email shows the credit -----------------------------------------------------------

SENDER = "CraftJack Billing <billing@craftjack.com>"
VISA = Card("pm_visa", "visa", "4242", 12, 2030)
PAID_AT = datetime(2024, 1, 19, 12, 1, tzinfo=UTC)


def email_account(language: str = "en"):
    return make_account(locale=Locale(language))


def test_r5_the_email_shows_the_total_the_credit_applied_and_the_amount_due():
    paid = record_attempt(
        invoice(1_000),
        PaymentAttempt(1, PAID_AT, AttemptOutcome.SUCCEEDED, "pi_1", card=VISA),
    )
    rendered = render_invoice_email(paid, email_account(), sender=SENDER)
    assert "Total: $45.00\nAccount credit applied: -$10.00\nAmount due: $35.00" in rendered.text
    assert "$45.00, paid" in rendered.subject
    assert "Account credit applied" in rendered.html and "-$10.00" in rendered.html
    pdf = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(rendered.pdf)).pages)
    assert re.search(r"Account credit applied\s*-\$10\.00", pdf)
    assert re.search(r"Amount due\s*\$35\.00", pdf)


def test_r5_an_invoice_the_credit_paid_says_no_card_was_charged_in_each_language():
    paid = record_attempt(invoice(4_500), PaymentAttempt(1, PAID_AT, AttemptOutcome.SUCCEEDED))
    assert render_invoice_email(paid, email_account(), sender=SENDER).subject.endswith(
        "$45.00, paid"
    )
    english = render_invoice_email(paid, email_account("en"), sender=SENDER)
    assert (
        "Paid in full with your account credit on January 19, 2024. "
        "Nothing was charged to your card. Thank you!"
    ) in english.text
    assert "Amount due: $0.00" in english.text
    spanish = render_invoice_email(paid, email_account("es"), sender=SENDER)
    assert (
        "Pagado en su totalidad con el crédito de su cuenta el 19 de enero de 2024. "
        "No se cobró nada a su tarjeta. ¡Gracias!"
    ) in spanish.text
    assert "Monto a pagar: $0.00" in spanish.text


def test_r5_an_invoice_without_credit_shows_no_credit_line():
    rendered = render_invoice_email(invoice(), email_account(), sender=SENDER)
    assert "credit" not in rendered.text.lower()
    assert "Amount due" not in rendered.text


# -- An operator's change of the details --------------------------------------------------


MANAGER = AccountManager("Ana López", "(312) 555-0147", "ana.lopez@craftjack.com")


def test_each_detail_changes_and_nothing_else():
    account = account_with(unbilled=5_000)
    changed = change_details(
        account,
        DetailChanges(
            billing_email="ap@rivera.example",
            locale="en",
            timezone=CHICAGO,  # the one it has: accepted, nothing moves
            threshold=Money(30_000),
            account_manager=MANAGER,
        ),
    )
    assert changed.billing_email == "ap@rivera.example"
    assert changed.locale is Locale.EN
    assert changed.threshold == Money(30_000)
    assert changed.account_manager == MANAGER
    assert changed.invoice_headroom == Money(25_000)
    untouched = ("spent", "unbilled", "past_due", "pauses", "period", "timezone", "credit")
    for name in untouched:
        assert getattr(changed, name) == getattr(account, name)


def test_r4_a_threshold_lowered_to_the_unbilled_charges_makes_a_threshold_invoice_due():
    account = account_with(unbilled=5_000)
    assert change_details(account, DetailChanges(threshold=Money(5_000))).invoice_due
    lowered_not_reached = change_details(account, DetailChanges(threshold=Money(5_001)))
    assert not lowered_not_reached.invoice_due
    due = replace(account, invoice_due=True, threshold=Money(5_000))
    assert not change_details(due, DetailChanges(threshold=Money(9_000))).invoice_due


def test_r7_another_timezone_is_refused():
    with pytest.raises(TimezoneChangeRefused, match="budget period"):
        change_details(account_with(), DetailChanges(timezone="America/New_York"))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (DetailChanges(billing_email="nope"), "billing_email"),
        (DetailChanges(locale="fr"), "locale"),
        (DetailChanges(timezone="Mars/Olympus"), "timezone"),
        (DetailChanges(threshold=Money(0)), "threshold_cents"),
        (DetailChanges(threshold=Money(100_000_001)), "threshold_cents"),
        (
            DetailChanges(account_manager=AccountManager("Ana", "555", "not-an-email")),
            "account_manager.email",
        ),
        (DetailChanges(account_manager=AccountManager(" ", "555", "a@b.co")), "account_manager"),
    ],
)
def test_a_bad_detail_is_refused_naming_its_field(changes: DetailChanges, field: str):
    with pytest.raises(AccountError) as refused:
        change_details(account_with(), changes)
    assert refused.value.field.startswith(field)
