"""R1, R2, R7, R8, R12: what happens to a delivered lead.

The account below signed up in Chicago on 15 January 2024, so its periods start at local
midnight on the 15th: 06:00 UTC in winter (CST, UTC-6), 05:00 UTC in summer (CDT, UTC-5,
from 10 March 2024).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from functions.billing.account import Account, PauseReason
from functions.billing.budget import BudgetPeriod
from functions.billing.decision import (
    LeadDecision,
    Outcome,
    Slot,
    apply_decision,
    check_delivery_time,
    decide,
    roll_over,
)
from functions.billing.events import (
    AccountPaused,
    AccountReactivated,
    LeadCharged,
    LeadRejected,
    RejectReason,
)
from functions.billing.leads import InvalidLead
from functions.billing.money import Money
from tests.unit.support import (
    CHICAGO,
    LOS_ANGELES,
    at_local,
    at_utc,
    expected_end_date,
    expected_start_date,
    first_instant,
    make_account,
    make_lead,
)

CONTRACTOR = "contractor-1"
JANUARY = BudgetPeriod(at_utc(2024, 1, 15, 6), at_utc(2024, 2, 15, 6))
FEBRUARY = BudgetPeriod(at_utc(2024, 2, 15, 6), at_utc(2024, 3, 15, 5))
MARCH = BudgetPeriod(at_utc(2024, 3, 15, 5), at_utc(2024, 4, 15, 5))
APRIL = BudgetPeriod(at_utc(2024, 4, 15, 5), at_utc(2024, 5, 15, 5))

IN_JANUARY = at_local(CHICAGO, 2024, 1, 20, 12)
IN_FEBRUARY = at_local(CHICAGO, 2024, 2, 20, 12)
PAUSED_AT = at_local(CHICAGO, 2024, 2, 1, 9)


def paused(*reasons: PauseReason, since: datetime = PAUSED_AT) -> MappingProxyType:
    return MappingProxyType(dict.fromkeys(reasons, since))


def january_account(*, budget: int = 10_000, spent: int = 0, **changes) -> Account:
    account = make_account(budget=budget, spent=Money(spent), **changes)
    assert account.period == JANUARY  # the arithmetic in this module's header
    return account


def february_account(*, january_spent: int, spent: int = 0, **changes) -> Account:
    """Rolled over from January, where ``january_spent`` of 10000 was spent."""
    rolled, _ = roll_over(january_account(spent=january_spent), FEBRUARY.start)
    return replace(rolled, spent=Money(spent), **changes)


def process(account: Account, lead, at: datetime):
    decision = decide(account, lead)
    return (decision, *apply_decision(account, lead, decision, at))


def charged(lead) -> LeadCharged:
    return LeadCharged(CONTRACTOR, lead.lead_id, lead.price, lead.category, lead.delivered_at)


# --- charge, exact fit, no fit (R1, R8) ---------------------------------------------------


@pytest.mark.parametrize(
    ("spent", "price", "fits", "pauses"),
    [
        (0, 1_000, True, False),
        (2_000, 3_000, True, False),
        (6_999, 3_000, True, False),  # one cent to spare
        (7_000, 3_000, True, True),  # exactly the remaining budget
        (0, 10_000, True, True),  # the whole budget in one lead
        (7_001, 3_000, False, True),  # one cent short
        (8_000, 3_000, False, True),
        (10_000, 1, False, True),  # spent to the cent, yet not paused
    ],
)
def test_r8_given_the_remaining_budget_when_a_lead_arrives_then_fit_decides_charge_and_pause(
    spent, price, fits, pauses
):
    account = january_account(spent=spent)
    lead = make_lead(delivered_at=IN_JANUARY, price=price)

    decision = decide(account, lead)

    assert decision.slot is Slot.CURRENT
    assert decision.outcome is (Outcome.CHARGE if fits else Outcome.REJECT)
    assert decision.reason is (None if fits else RejectReason.BUDGET)
    assert decision.pauses_for_budget is pauses


def test_r1_given_a_lead_that_fits_when_applied_then_charged_once_at_its_own_price():
    # Given 2000 of 10000 spent and 500 unbilled
    account = january_account(spent=2_000, unbilled=Money(500))
    lead = make_lead(delivered_at=IN_JANUARY, price=3_000)

    # When the lead is decided and applied
    _, after, events = process(account, lead, IN_JANUARY)

    # Then exactly its price is added to the spend and the unbilled charges, nothing else
    assert after.spent == Money(5_000)
    assert after.unbilled == Money(3_500)
    assert events == [charged(lead)]
    assert not after.paused


def test_r8_given_a_lead_that_fits_exactly_when_applied_then_charged_and_paused_once():
    account = january_account(spent=7_000)
    lead = make_lead(delivered_at=IN_JANUARY, price=3_000)
    processed_at = IN_JANUARY + timedelta(seconds=2)

    _, after, events = process(account, lead, processed_at)

    assert after.spent == account.monthly_budget
    assert after.remaining == Money(0)
    assert events == [
        charged(lead),
        AccountPaused(CONTRACTOR, PauseReason.BUDGET, processed_at),
    ]
    assert after.pauses == {PauseReason.BUDGET: processed_at}


def test_r8_given_a_lead_that_does_not_fit_when_applied_then_rejected_and_paused_not_charged():
    account = january_account(spent=8_000, unbilled=Money(8_000))
    lead = make_lead(delivered_at=IN_JANUARY, price=3_000)

    _, after, events = process(account, lead, IN_JANUARY)

    assert after.spent == Money(8_000)
    assert after.unbilled == Money(8_000)
    assert [type(e) for e in events] == [LeadRejected, AccountPaused]
    rejected, pause = events
    assert (rejected.contractor_id, rejected.lead_id, rejected.reason) == (
        CONTRACTOR,
        lead.lead_id,
        RejectReason.BUDGET,
    )
    assert rejected.detail
    assert pause == AccountPaused(CONTRACTOR, PauseReason.BUDGET, IN_JANUARY)
    assert after.pauses == {PauseReason.BUDGET: IN_JANUARY}


@pytest.mark.parametrize(
    "reasons",
    [
        (PauseReason.BUDGET,),
        (PauseReason.NON_PAYMENT,),
        (PauseReason.BUDGET, PauseReason.NON_PAYMENT),
    ],
    ids=["budget", "non_payment", "both"],
)
def test_r12_given_a_paused_account_when_a_lead_arrives_then_rejected_as_paused_and_not_charged(
    reasons,
):
    # Given a paused account with room in its budget
    account = january_account(spent=1_000, pauses=paused(*reasons))
    lead = make_lead(delivered_at=IN_JANUARY, price=500)

    # When the lead is decided and applied
    decision, after, events = process(account, lead, IN_JANUARY)

    # Then it is rejected for the pause, nothing is charged, no new pause is announced
    assert (decision.outcome, decision.reason) == (Outcome.REJECT, RejectReason.PAUSED)
    assert not decision.pauses_for_budget
    assert [type(e) for e in events] == [LeadRejected]
    assert events[0].reason is RejectReason.PAUSED
    assert all(reason.value in events[0].detail for reason in reasons)
    assert (after.spent, after.unbilled) == (account.spent, account.unbilled)
    assert after.pauses == account.pauses


def test_r2_given_the_same_lead_twice_then_its_charge_event_has_one_id():
    lead = make_lead(delivered_at=IN_JANUARY, lead_id="lead-a")
    other = make_lead(delivered_at=IN_JANUARY, lead_id="lead-b")
    account = january_account()

    _, _, first = process(account, lead, IN_JANUARY)
    _, _, again = process(account, lead, IN_JANUARY + timedelta(minutes=1))
    _, _, different = process(account, other, IN_JANUARY)

    assert first[0].event_id == again[0].event_id
    assert first[0].event_id != different[0].event_id


# --- roll over (R7, R8) ------------------------------------------------------------------


def test_r8_given_a_budget_pause_when_a_lead_comes_after_the_period_then_a_new_period_lifts_it():
    # Given January spent to the cent and paused for budget
    account = january_account(spent=10_000, pauses=paused(PauseReason.BUDGET))

    # When a lead of 20 February arrives
    rolled, reactivations = roll_over(account, IN_FEBRUARY)

    # Then February starts: spend from zero, the pause lifted at the period's start
    assert rolled.period == FEBRUARY
    assert rolled.spent == Money(0)
    assert rolled.pauses == {}
    assert reactivations == [
        AccountReactivated(CONTRACTOR, PauseReason.BUDGET, FEBRUARY.start, paused_since=PAUSED_AT)
    ]
    assert (rolled.previous_period, rolled.previous_remaining) == (JANUARY, Money(0))

    # And the lead is charged to February
    lead = make_lead(delivered_at=IN_FEBRUARY, price=4_000)
    _, after, events = process(rolled, lead, IN_FEBRUARY)
    assert events == [charged(lead)]
    assert after.spent == Money(4_000)


def test_r8_r12_given_both_pauses_when_a_new_period_starts_then_only_the_budget_pause_lifts():
    account = january_account(
        spent=10_000, pauses=paused(PauseReason.BUDGET, PauseReason.NON_PAYMENT)
    )

    rolled, reactivations = roll_over(account, IN_FEBRUARY)

    assert rolled.pauses == {PauseReason.NON_PAYMENT: PAUSED_AT}
    assert [r.reason for r in reactivations] == [PauseReason.BUDGET]
    lead = make_lead(delivered_at=IN_FEBRUARY, price=100)
    decision, after, events = process(rolled, lead, IN_FEBRUARY)
    assert (decision.outcome, decision.reason) == (Outcome.REJECT, RejectReason.PAUSED)
    assert [type(e) for e in events] == [LeadRejected]
    assert after.spent == Money(0)


def test_r8_given_only_a_non_payment_pause_when_a_new_period_starts_then_nothing_is_announced():
    account = january_account(spent=3_000, pauses=paused(PauseReason.NON_PAYMENT))

    rolled, reactivations = roll_over(account, IN_FEBRUARY)

    assert reactivations == []
    assert rolled.pauses == {PauseReason.NON_PAYMENT: PAUSED_AT}
    assert rolled.period == FEBRUARY


def test_r7_given_an_instant_inside_the_period_when_rolling_over_then_nothing_changes():
    account = january_account(spent=4_000, pauses=paused(PauseReason.BUDGET))

    rolled, reactivations = roll_over(account, JANUARY.end - timedelta(microseconds=1))

    assert rolled == account
    assert reactivations == []


def test_r7_given_the_exact_end_of_the_period_when_rolling_over_then_the_next_period_starts():
    # Periods are half-open: the end instant is the first instant of the next period.
    rolled, _ = roll_over(january_account(spent=6_500), JANUARY.end)

    assert rolled.period == FEBRUARY
    assert rolled.previous_period == JANUARY
    assert rolled.previous_remaining == Money(3_500)  # 10000 - 6500 left in January


def test_r7_given_whole_periods_without_leads_when_rolling_over_then_the_previous_one_is_unspent():
    # Given January with 4000 spent; no lead in February or March
    account = january_account(spent=4_000)

    # When a lead of 20 April arrives
    rolled, _ = roll_over(account, at_local(CHICAGO, 2024, 4, 20, 12))

    # Then April starts and March, the period before it, had its whole budget left
    assert rolled.period == APRIL
    assert rolled.previous_period == MARCH
    assert rolled.previous_remaining == Money(10_000)
    assert rolled.spent == Money(0)


# --- late leads of the previous period (R7, R8) --------------------------------------------

LATE = at_local(CHICAGO, 2024, 2, 14, 23)  # the last hour of the January period


def test_r7_given_a_late_lead_of_the_previous_period_when_it_fits_then_charged_to_that_period():
    # Given 7000 of 10000 spent in January, then 1000 in February
    account = february_account(january_spent=7_000, spent=1_000, unbilled=Money(8_000))
    lead = make_lead(delivered_at=LATE, price=2_000)

    # When a lead delivered in January's last hour is processed in February
    decision, after, events = process(account, lead, IN_FEBRUARY)

    # Then it is charged to January's remaining budget, not to February's spend
    assert (decision.outcome, decision.slot) == (Outcome.CHARGE, Slot.PREVIOUS)
    assert after.previous_remaining == Money(1_000)
    assert after.spent == Money(1_000)
    assert after.unbilled == Money(10_000)
    assert events == [charged(lead)]
    assert not after.paused


def test_r8_given_a_late_lead_that_exhausts_the_previous_period_then_charged_and_not_paused():
    # The pause would belong to a period that is over: nothing to pause.
    account = february_account(january_spent=7_000)
    lead = make_lead(delivered_at=LATE, price=3_000)

    _, after, events = process(account, lead, IN_FEBRUARY)

    assert events == [charged(lead)]
    assert after.previous_remaining == Money(0)
    assert not after.paused


def test_r8_given_a_late_lead_that_does_not_fit_the_previous_period_then_rejected_without_pause():
    account = february_account(january_spent=7_000, spent=1_000)
    lead = make_lead(delivered_at=LATE, price=3_001)

    decision, after, events = process(account, lead, IN_FEBRUARY)

    assert decision == LeadDecision(
        Outcome.REJECT, Slot.PREVIOUS, RejectReason.BUDGET, decision.detail, False
    )
    assert [type(e) for e in events] == [LeadRejected]
    assert events[0].reason is RejectReason.BUDGET
    assert after.pauses == {}
    assert (after.spent, after.previous_remaining) == (Money(1_000), Money(3_000))


def test_r8_given_the_current_period_paused_for_budget_then_a_late_lead_still_fits_its_own():
    account = february_account(
        january_spent=7_000, spent=10_000, pauses=paused(PauseReason.BUDGET, since=IN_FEBRUARY)
    )
    lead = make_lead(delivered_at=LATE, price=2_000)

    decision, after, events = process(account, lead, IN_FEBRUARY)

    assert (decision.outcome, decision.slot) == (Outcome.CHARGE, Slot.PREVIOUS)
    assert events == [charged(lead)]
    assert after.spent == Money(10_000)


def test_r12_given_a_non_payment_pause_then_a_late_lead_is_rejected_as_paused():
    account = february_account(january_spent=0, pauses=paused(PauseReason.NON_PAYMENT))
    lead = make_lead(delivered_at=LATE, price=100)

    decision, after, events = process(account, lead, IN_FEBRUARY)

    assert (decision.outcome, decision.slot, decision.reason) == (
        Outcome.REJECT,
        Slot.PREVIOUS,
        RejectReason.PAUSED,
    )
    assert [type(e) for e in events] == [LeadRejected]
    assert after.previous_remaining == Money(10_000)


def test_r7_given_a_lead_older_than_the_previous_period_then_invalid_lead():
    account = february_account(january_spent=0)
    lead = make_lead(delivered_at=JANUARY.start - timedelta(microseconds=1))

    with pytest.raises(InvalidLead) as error:
        decide(account, lead)

    assert error.value.field == "delivered_at"


def test_r7_given_a_new_account_when_a_lead_predates_its_first_period_then_invalid_lead():
    account = january_account()
    assert account.previous_period is None

    with pytest.raises(InvalidLead) as error:
        decide(account, make_lead(delivered_at=at_local(CHICAGO, 2024, 1, 14, 23)))

    assert error.value.field == "delivered_at"


# --- the billing clock --------------------------------------------------------------------

NOW = at_utc(2024, 1, 20, 18)


@pytest.mark.parametrize(
    "delivered_at",
    [NOW - timedelta(days=3), NOW, NOW + timedelta(minutes=5)],
    ids=["past", "now", "five-minutes-ahead"],
)
def test_given_a_lead_at_most_five_minutes_ahead_of_the_clock_then_accepted(delivered_at):
    check_delivery_time(make_lead(delivered_at=delivered_at), NOW)


@pytest.mark.parametrize(
    "delivered_at",
    [NOW + timedelta(minutes=5, microseconds=1), NOW + timedelta(days=40)],
    ids=["just-over-five-minutes", "next-period"],
)
def test_given_a_lead_more_than_five_minutes_in_the_future_then_invalid_lead(delivered_at):
    with pytest.raises(InvalidLead) as error:
        check_delivery_time(make_lead(delivered_at=delivered_at), NOW)

    assert error.value.field == "delivered_at"


# --- property: any stream of leads ---------------------------------------------------------

MAX_LEAD_PRICE = 100_000


@given(
    data=st.data(),
    zone=st.sampled_from([CHICAGO, LOS_ANGELES]),
    signed_up_at=st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2025, 12, 31), timezones=st.just(UTC)
    ),
    budget=st.one_of(st.integers(1, 20_000), st.integers(20_000, 1_000_000)),
    count=st.integers(1, 50),
)
def test_r1_r7_r8_property_any_stream_of_leads_keeps_every_period_within_budget(
    data, zone, signed_up_at, budget, count
):
    """Leads delivered in order, processed up to two days late, through the whole flow.

    An independent model keeps the spend per period (keyed by the period's local start
    date, from the calendar reference) and whether a lead of the current period reached
    or overflowed the budget; the account must agree with it after every lead.
    """
    day = signed_up_at.astimezone(ZoneInfo(zone)).day

    def period_key(instant: datetime) -> date:
        return expected_start_date(instant.astimezone(ZoneInfo(zone)).date(), day)

    account = make_account(budget=budget, signed_up_at=signed_up_at, timezone=zone)
    spent: dict[date, int] = defaultdict(int)
    budget_paused_at: dict[date, datetime] = {}
    total = 0
    current = period_key(signed_up_at)
    delivered_at = now = signed_up_at

    for number in range(count):
        # Leads come seconds to days apart; some just before the next period starts.
        next_start = first_instant(expected_end_date(period_key(delivered_at), day), zone)
        to_boundary = int((next_start - delivered_at).total_seconds())
        gap = data.draw(
            st.one_of(
                st.integers(0, 3_600),
                st.integers(0, 4 * 86_400),
                st.integers(max(0, to_boundary - 7_200), max(0, to_boundary - 1)),
            )
        )
        delivered_at += timedelta(seconds=gap)
        lag = data.draw(st.one_of(st.just(0), st.integers(0, 7_200), st.integers(0, 2 * 86_400)))
        now = max(now, delivered_at + timedelta(seconds=lag))
        key = period_key(delivered_at)
        room = budget - spent[key]
        exact = [st.just(room)] if 1 <= room <= MAX_LEAD_PRICE else []
        price = data.draw(st.one_of(st.integers(1, MAX_LEAD_PRICE), *exact))
        lead = make_lead(delivered_at=delivered_at, price=price, lead_id=f"lead-{number}")

        # When the billing clock reaches `now`
        account, reactivations = roll_over(account, now)
        if period_key(now) != current:
            ended, current = current, period_key(now)
            lifted = ended in budget_paused_at
            event("new period, budget pause lifted" if lifted else "new period")
            assert reactivations == (
                [
                    AccountReactivated(
                        CONTRACTOR,
                        PauseReason.BUDGET,
                        first_instant(current, zone),
                        budget_paused_at[ended],
                    )
                ]
                if lifted
                else []
            )
        else:
            assert reactivations == []

        # And the lead is decided and applied
        check_delivery_time(lead, now)
        decision = decide(account, lead)
        account, events = apply_decision(account, lead, decision, now)

        # Then the outcome is the model's
        newly_paused = False
        if key == current:
            if key in budget_paused_at:
                expected = RejectReason.PAUSED
            elif price > room:
                expected, newly_paused = RejectReason.BUDGET, True
            else:
                expected, newly_paused = None, price == room
        else:
            # Two days of lag can only reach back into the period before the current one.
            assert key == expected_start_date(current - timedelta(days=1), day)
            event("late lead")
            # A period that ended paused for budget takes no late lead (R8, R12).
            ended_paused = key in budget_paused_at
            expected = RejectReason.BUDGET if price > room or ended_paused else None
        if expected is None:
            spent[key] += price
            total += price
            assert events[0] == charged(lead)
        else:
            assert isinstance(events[0], LeadRejected)
            assert events[0].reason is expected
        if newly_paused:
            event("budget reached")
            budget_paused_at[key] = now
            assert events[1:] == [AccountPaused(CONTRACTOR, PauseReason.BUDGET, now)]
        else:
            assert events[1:] == []

        # And the invariants hold
        assert all(amount <= budget for amount in spent.values())
        assert account.period.start == first_instant(current, zone)
        assert account.spent == Money(spent[current])
        if account.previous_period is not None:
            previous = period_key(account.previous_period.start)
            assert previous == expected_start_date(current - timedelta(days=1), day)
            left = 0 if previous in budget_paused_at else budget - spent[previous]
            assert account.previous_remaining == Money(left)
        assert account.unbilled == Money(total)
        assert (PauseReason.BUDGET in account.pauses) is (current in budget_paused_at)


def test_r7_r8_given_a_clock_set_back_across_midnight_when_rolling_over_then_the_new_period():
    zone = "America/St_Johns"
    # Given October 2009 spent to the cent and paused for budget
    account = make_account(budget=1_000, signed_up_at=at_local(zone, 2009, 9, 1, 12), timezone=zone)
    account, _ = roll_over(account, at_utc(2009, 10, 15))
    october = account.period
    account = replace(account, spent=Money(1_000), pauses=paused(PauseReason.BUDGET))

    # When a lead arrives at 03:00 UTC on 1 November, after November started at 02:30 UTC
    instant = at_utc(2009, 11, 1, 3)
    rolled, _ = roll_over(account, instant)

    # Then the account is in November, and October stays spent
    assert instant in rolled.period
    assert rolled.previous_period == october
    assert rolled.previous_remaining == Money(0)
