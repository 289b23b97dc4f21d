"""budget_reset against moto: the daily schedule of a timezone rolls budget periods over
(R7) and lifts budget pauses (R8), as the same transition as on_lead's lazy roll-over."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from functions.adapters.accounts import parse_instant
from tests.integration.conftest import Clock
from tests.integration.steps import (
    account,
    deliver,
    deliver_in_parallel,
    events,
    lead,
    ledger,
    open_contractor,
    records_for,
)
from tests.support.aws import LambdaContext, Resources

CHICAGO = "America/Chicago"


def run(budget_reset: ModuleType, timezone: str = CHICAGO) -> dict[str, Any]:
    schedule = {"run": "budget_reset", "timezone": timezone}
    return budget_reset.handler(schedule, LambdaContext(function_name="budget_reset"))


def local_period(contractor_id: str = "c-1") -> tuple[str, str]:
    item = account(contractor_id)
    return (
        parse_instant(item.period_start).astimezone(_zone()).isoformat(),
        parse_instant(item.period_end).astimezone(_zone()).isoformat(),
    )


def _zone() -> ZoneInfo:
    return ZoneInfo(CHICAGO)


@pytest.mark.parametrize(
    ("year", "february_reset"),
    [(2026, "2026-02-28T00:00:00-06:00"), (2028, "2028-02-29T00:00:00-06:00")],
)
def test_r7_a_signup_on_january_31_resets_on_the_last_day_of_february_then_march_31(
    budget_reset, aws: Resources, clock: Clock, year: int, february_reset: str
):
    # Given a contractor who signed up on January 31 in Chicago
    open_contractor(signup=datetime.fromisoformat(f"{year}-01-31T10:00:00-06:00"), budget=50_000)
    assert local_period() == (f"{year}-01-31T00:00:00-06:00", february_reset)
    reset_day = february_reset[:10]
    # When the schedule runs the day before, or a second before midnight, nothing is due
    clock.set(f"{_day_before(reset_day)}T00:05:00-06:00")
    assert run(budget_reset) == {"due": 0, "reset": 0, "reactivated": 0, "cards_expiring": 0}
    clock.set(f"{_day_before(reset_day)}T23:59:59-06:00")
    assert run(budget_reset)["reset"] == 0
    assert local_period()[0] == f"{year}-01-31T00:00:00-06:00"
    # When it runs at 00:05 local on the last day of February
    clock.set(f"{reset_day}T00:05:00-06:00")
    assert run(budget_reset) == {"due": 1, "reset": 1, "reactivated": 0, "cards_expiring": 0}
    # Then the period runs from that day to March 31, spend from zero
    assert local_period() == (february_reset, f"{year}-03-31T00:00:00-05:00")
    item = account()
    assert (item.spent_cents, item.remaining_cents) == (0, 50_000)
    assert item.prev_period_start is not None
    assert parse_instant(item.prev_period_start).astimezone(_zone()).isoformat() == (
        f"{year}-01-31T00:00:00-06:00"
    )
    assert item.prev_remaining_cents == 50_000
    # And on March 31 at 00:05 (daylight time) it resets again, to April 30
    clock.set(f"{year}-03-30T00:05:00-05:00")
    assert run(budget_reset)["reset"] == 0
    clock.set(f"{year}-03-31T00:05:00-05:00")
    assert run(budget_reset)["reset"] == 1
    assert local_period() == (f"{year}-03-31T00:00:00-05:00", f"{year}-04-30T00:00:00-05:00")
    assert len(ledger(kind="budget_period_started")) == 3


def _day_before(day: str) -> str:
    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()


def test_r7_only_the_accounts_of_the_schedules_timezone_are_reset(budget_reset, aws, clock):
    open_contractor("c-chi", signup=datetime.fromisoformat("2026-01-31T10:00:00-06:00"))
    open_contractor(
        "c-ny",
        signup=datetime.fromisoformat("2026-01-31T10:00:00-05:00"),
        timezone="America/New_York",
    )
    clock.set("2026-02-28T00:05:00-06:00")
    assert run(budget_reset, CHICAGO)["reset"] == 1
    assert account("c-ny").period_start < account("c-chi").period_start
    assert run(budget_reset, "America/New_York")["reset"] == 1
    assert run(budget_reset, "America/New_York")["reset"] == 0


def test_r8_the_reset_lifts_a_budget_pause_with_its_ledger_entries_and_event(
    budget_reset, on_lead, aws, clock
):
    # Given an account paused for budget by a lead priced at exactly its budget
    open_contractor(budget=10_000)  # signed up November 15 in Chicago
    deliver(on_lead, records_for(aws, [lead("L1", 10_000)]))
    assert set(account().pauses.as_dict()) == {"budget"}
    paused_since = account().pauses.as_dict()["budget"]
    events(aws)
    # When the schedule runs at 00:05 on December 15
    clock.set("2026-12-15T00:05:00-06:00")
    assert run(budget_reset) == {"due": 1, "reset": 1, "reactivated": 1, "cards_expiring": 0}
    # Then the pause is lifted, spend starts from zero, and the ended period, which ended
    # paused, takes no late lead
    item = account()
    assert item.pauses.as_dict() == {}
    assert (item.spent_cents, item.remaining_cents, item.prev_remaining_cents) == (0, 10_000, 0)
    assert item.unbilled_cents == 10_000  # the reset bills nothing and forgets nothing
    [reactivation] = ledger(kind="account_reactivated")
    assert reactivation.entry_id == f"reactivation#budget#{paused_since}"
    assert "period#2026-12-15T06:00:00.000000Z" in {e.entry_id for e in ledger()}
    [announced] = events(aws, "AccountReactivated")
    assert announced["detail"]["reason"] == "budget"
    assert announced["detail"]["at"] == "2026-12-15T06:00:00+00:00"
    # And a lead of the new period is charged
    deliver(on_lead, records_for(aws, [lead("L2", 1_000, at="2026-12-15T00:03:00-06:00")]))
    assert account().spent_cents == 1_000


def test_r7_the_same_schedule_delivered_twice_changes_nothing_more(
    budget_reset, on_lead, aws, clock
):
    open_contractor(budget=10_000)
    deliver(on_lead, records_for(aws, [lead("L1", 10_000)]))
    events(aws)
    clock.set("2026-12-15T00:05:00-06:00")
    assert run(budget_reset)["reset"] == 1
    before = (account().serialize(), [e.entry_id for e in ledger()])
    assert run(budget_reset) == {"due": 0, "reset": 0, "reactivated": 0, "cards_expiring": 0}
    assert (account().serialize(), [e.entry_id for e in ledger()]) == before
    assert len(events(aws, "AccountReactivated")) == 1


def test_r8_a_lead_that_rolled_the_period_over_first_leaves_the_reset_nothing_to_do(
    budget_reset, on_lead, aws, clock
):
    open_contractor(budget=10_000)
    deliver(on_lead, records_for(aws, [lead("L1", 10_000)]))
    clock.set("2026-12-15T00:05:00-06:00")
    deliver(on_lead, records_for(aws, [lead("L2", 1_000, at="2026-12-15T00:01:00-06:00")]))
    events(aws)
    assert run(budget_reset)["reset"] == 0
    assert account().spent_cents == 1_000
    assert len(ledger(kind="account_reactivated")) == 1
    assert events(aws, "AccountReactivated") == []


@pytest.mark.parametrize("attempt", range(3))
def test_r7_r8_a_reset_racing_a_lead_rolls_the_period_over_once(
    budget_reset, on_lead, aws, clock, attempt
):
    # Given an account paused for budget, and a lead of the new period
    open_contractor(budget=10_000)
    deliver(on_lead, records_for(aws, [lead("L1", 10_000)]))
    records = records_for(aws, [lead("L2", 1_000, at="2026-12-15T00:02:00-06:00")])
    events(aws)
    clock.set("2026-12-15T00:05:00-06:00")
    # When the schedule and the lead arrive at the same time
    with ThreadPoolExecutor(2) as pool:
        lead_done = pool.submit(deliver_in_parallel, on_lead, records)
        reset_done = pool.submit(
            budget_reset.run.run, budget_reset.ResetRequest(CHICAGO), clock.now()
        )
        assert lead_done.result() == {"batchItemFailures": []}
        reset_done.result()
    # Then the period was rolled over once: one period entry, one reactivation, one event,
    # and the lead charged in the new period
    assert len(ledger(kind="budget_period_started")) == 2
    assert len(ledger(kind="account_reactivated")) == 1
    assert len(events(aws, "AccountReactivated")) == 1
    item = account()
    assert item.pauses.as_dict() == {}
    assert (item.spent_cents, item.remaining_cents, item.prev_remaining_cents) == (
        1_000,
        9_000,
        0,
    )


def test_an_event_that_is_not_a_reset_run_fails(budget_reset):
    with pytest.raises(ValueError, match="billing timezone"):
        run(budget_reset, "Europe/Paris")


def test_r7_an_account_no_run_reached_for_months_moves_to_the_current_period(
    budget_reset, aws, clock
):
    # Given an account whose stored period ended three months ago (no lead, no run since)
    open_contractor(budget=10_000)  # signed up November 15 in Chicago
    # When the schedule runs on February 15
    clock.set("2027-02-15T00:05:00-06:00")
    assert run(budget_reset)["reset"] == 1
    # Then the period is the current one, and the one before it spent nothing
    assert local_period() == ("2027-02-15T00:00:00-06:00", "2027-03-15T00:00:00-05:00")
    item = account()
    assert item.prev_period_start == "2027-01-15T06:00:00.000000Z"
    assert item.prev_remaining_cents == 10_000
    assert len(ledger(kind="budget_period_started")) == 2
