"""The daily reconciliation of the synthesized stack on the local stack: its schedule fires
at 01:00 UTC with its instant, and the run reconciles the UTC day before it (R5, R6)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from infra import names
from tests.e2e.conftest import LocalClient

pytestmark = pytest.mark.e2e

RECONCILE = names.FUNCTION_LOGICAL_IDS[names.RECONCILE]


def test_the_daily_schedule_reconciles_the_day_before_its_instant(local: LocalClient):
    # Given the stack's schedules, one of which is the daily reconciliation at 01:00 UTC
    [schedule] = [
        s for s in local.config["schedules"] if s["name"] == names.RECONCILE_SCHEDULE_LOGICAL_ID
    ]
    assert schedule["expression"] == "cron(0 1 * * ? *)"

    # When the clock passes 01:00 UTC
    now = local.advance(1)
    next_run = (now + timedelta(days=1)).replace(hour=1, minute=0, second=0, microsecond=0)
    if next_run - now > timedelta(days=1):
        next_run -= timedelta(days=1)
    local.set_clock(next_run + timedelta(minutes=1))

    # Then reconcile ran once, told the schedule's instant (it reconciles the day before),
    # and succeeded
    [run] = [
        invocation
        for invocation in local.invocations()
        if invocation["function"] == RECONCILE and invocation["source"] == "schedule"
    ]
    assert run["event"] == {
        "run": "reconcile",
        "scheduled_time": next_run.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert run["ok"], run["error"]
