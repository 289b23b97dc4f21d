"""R8, R10, R12: pauses are independent; each start and each lift is announced once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.billing.account import PauseReason
from functions.billing.decision import roll_over
from functions.billing.events import AccountPaused, AccountReactivated
from functions.billing.pauses import TRANSITIONS, Trigger, apply, stored_transitions
from tests.unit.support import at_utc, make_account

T1, T2, T3, T4 = (at_utc(2024, 2, day, 12) for day in (1, 2, 3, 4))

PAUSES_BY = {
    Trigger.BUDGET_REACHED: PauseReason.BUDGET,  # R8
    Trigger.GRACE_ENDED_UNPAID: PauseReason.NON_PAYMENT,  # R10
}
LIFTS_BY = {
    Trigger.BUDGET_PERIOD_STARTED: PauseReason.BUDGET,  # R8: a new period
    Trigger.BUDGET_RAISED: PauseReason.BUDGET,  # R8: budget raised above the spend
    Trigger.BALANCE_SETTLED: PauseReason.NON_PAYMENT,  # R10, R11
}


def test_r12_the_transition_table_covers_every_trigger_with_the_rules_meaning():
    assert set(TRANSITIONS) == set(Trigger)
    assert {t: TRANSITIONS[t][1] for t in PAUSES_BY} == PAUSES_BY
    assert {t: TRANSITIONS[t][1] for t in LIFTS_BY} == LIFTS_BY


@pytest.mark.parametrize(("trigger", "reason"), PAUSES_BY.items())
def test_r12_given_an_active_account_when_a_pause_starts_then_it_is_recorded_and_announced(
    trigger, reason
):
    account = make_account()

    paused, event = apply(account, trigger, T1)

    assert paused.pauses == {reason: T1}
    assert paused.paused
    assert event == AccountPaused("contractor-1", reason, T1)
    assert not account.paused  # the snapshot it came from is unchanged


@pytest.mark.parametrize(("trigger", "reason"), PAUSES_BY.items())
def test_r12_given_a_paused_account_when_paused_again_for_the_same_reason_then_one_event(
    trigger, reason
):
    # Given an account paused at T1; When the same pause starts again at T2
    once, first = apply(make_account(), trigger, T1)
    twice, second = apply(once, trigger, T2)

    # Then the second changes nothing and announces nothing; the pause keeps its start
    assert first is not None
    assert second is None
    assert twice.pauses == {reason: T1}


@pytest.mark.parametrize(("trigger", "reason"), LIFTS_BY.items())
def test_r12_given_no_such_pause_when_it_is_lifted_then_nothing_changes_or_is_announced(
    trigger, reason
):
    account = make_account()

    lifted, event = apply(account, trigger, T1)

    assert event is None
    assert lifted.pauses == {}
    assert not lifted.paused


@pytest.mark.parametrize(("lift", "reason"), LIFTS_BY.items())
def test_r12_given_both_pauses_when_one_lifts_then_the_other_holds_and_the_account_stays_paused(
    lift, reason
):
    # Given an account paused for budget at T1 and for non-payment at T2
    account, _ = apply(make_account(), Trigger.BUDGET_REACHED, T1)
    account, _ = apply(account, Trigger.GRACE_ENDED_UNPAID, T2)
    since = {PauseReason.BUDGET: T1, PauseReason.NON_PAYMENT: T2}

    # When one pause lifts at T3
    lifted, event = apply(account, lift, T3)

    # Then only that one goes, the reactivation carries the original start, still paused
    other = next(r for r in PauseReason if r is not reason)
    assert lifted.pauses == {other: since[other]}
    assert lifted.paused
    assert event == AccountReactivated("contractor-1", reason, T3, paused_since=since[reason])


@pytest.mark.parametrize(("lift", "reason"), LIFTS_BY.items())
def test_r12_given_one_pause_when_the_other_kind_lifts_then_the_pause_holds(lift, reason):
    other_pause = next(t for t, r in PAUSES_BY.items() if r is not reason)
    account, _ = apply(make_account(), other_pause, T1)

    after, event = apply(account, lift, T2)

    assert event is None
    assert after.pauses == account.pauses
    assert after.paused


@pytest.mark.parametrize(("lift", "reason"), LIFTS_BY.items())
def test_r12_given_a_paused_account_when_reactivated_then_the_event_carries_the_original_since(
    lift, reason
):
    pause = next(t for t, r in PAUSES_BY.items() if r is reason)
    account, _ = apply(make_account(), pause, T1)
    account, repeated = apply(account, pause, T2)  # a second trigger does not move `since`

    active, event = apply(account, lift, T4)

    assert repeated is None
    assert event == AccountReactivated("contractor-1", reason, T4, paused_since=T1)
    assert not active.paused


def test_r2_given_the_same_fact_announced_twice_then_the_event_ids_match():
    # At-least-once delivery: a consumer must recognise the same fact by its id.
    _, first = apply(make_account(), Trigger.BUDGET_REACHED, T1)
    _, again = apply(make_account(), Trigger.BUDGET_REACHED, T1)
    _, later = apply(make_account(), Trigger.BUDGET_REACHED, T2)
    _, other = apply(make_account(), Trigger.GRACE_ENDED_UNPAID, T1)

    assert first is not None and again is not None and later is not None and other is not None
    assert first.event_id == again.event_id
    assert len({first.event_id, later.event_id, other.event_id}) == 3


@given(st.lists(st.tuples(st.sampled_from(list(Trigger)), st.integers(1, 28)), max_size=30))
def test_r12_property_pauses_follow_an_independent_set_model(steps):
    # Model: a map reason -> since; a pause trigger adds if absent, a lift removes if present.
    account, model = make_account(), {}
    for trigger, day in steps:
        at = at_utc(2024, 2, day)
        reason = PAUSES_BY.get(trigger) or LIFTS_BY[trigger]
        before = dict(model)
        if trigger in PAUSES_BY:
            model.setdefault(reason, at)
        else:
            model.pop(reason, None)

        account, event = apply(account, trigger, at)

        assert dict(account.pauses) == model
        assert account.paused is bool(model)
        if model == before:
            assert event is None
        elif trigger in PAUSES_BY:
            assert event == AccountPaused("contractor-1", reason, at)
        else:
            assert event == AccountReactivated("contractor-1", reason, at, before[reason])


# ------------------------------------------------- what a stored change of the account announces


@pytest.mark.parametrize(("trigger", "reason"), PAUSES_BY.items())
def test_r12_a_stored_pause_is_announced_as_its_writer_announced_it(trigger, reason):
    before = make_account()
    after, event = apply(before, trigger, T2)

    assert stored_transitions(before, after) == [event]
    # The same change seen again (a stream record redelivered) announces the same fact.
    assert stored_transitions(before, after) == [event]


def test_r12_a_budget_pause_lifted_by_a_new_period_is_announced_at_the_periods_start():
    paused, _ = apply(make_account(), Trigger.BUDGET_REACHED, T1)
    rolled, reactivations = roll_over(paused, paused.period.end + timedelta(days=3))

    assert reactivations == [
        AccountReactivated("contractor-1", PauseReason.BUDGET, paused.period.end, T1)
    ]
    assert stored_transitions(paused, rolled) == reactivations


def test_r12_a_new_period_that_lifts_one_budget_pause_and_starts_another_announces_both():
    paused, _ = apply(make_account(), Trigger.BUDGET_REACHED, T1)
    rolled, reactivations = roll_over(paused, paused.period.end + timedelta(hours=1))
    repaused, pause = apply(rolled, Trigger.BUDGET_REACHED, paused.period.end + timedelta(hours=1))

    assert stored_transitions(paused, repaused) == [*reactivations, pause]


@pytest.mark.parametrize(
    "trigger", [Trigger.BUDGET_RAISED, Trigger.BALANCE_SETTLED], ids=lambda t: t.value
)
def test_r12_a_reactivation_made_by_a_request_is_left_to_the_request(trigger):
    """Its instant is the request's, which the account does not keep: the request that
    made it announces it (and again when repeated)."""
    reason = TRANSITIONS[trigger][1]
    paused, _ = apply(make_account(), next(t for t, r in PAUSES_BY.items() if r is reason), T1)
    lifted, event = apply(paused, trigger, T2)

    assert isinstance(event, AccountReactivated)
    assert stored_transitions(paused, lifted) == []


def test_r12_a_change_that_starts_and_lifts_no_pause_announces_nothing():
    account = make_account()
    paused, _ = apply(account, Trigger.GRACE_ENDED_UNPAID, T1)

    assert stored_transitions(account, account) == []
    assert stored_transitions(paused, paused) == []
    assert stored_transitions(None, account) == []
    # A new period with no budget pause to lift.
    rolled, _ = roll_over(account, account.period.end)
    assert stored_transitions(account, rolled) == []
