"""R12 against moto and localstripe: notify announces, from the accounts stream, every pause
that started and every budget pause a new period lifted, as the same facts (event id and
detail) that the function which stored them announced, so that an announcement lost with a
transaction's answer still reaches the bus; a record whose announcement the bus and the
unpublished events queue both refused fails and is announced when delivered again.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from tests.integration.conftest import Clock
from tests.integration.steps import account, deliver, events, lead, open_contractor, records_for
from tests.integration.test_event_faults import (
    REFUSALS,
    RefusingBus,
    events_client,
    republished,
    unpublished_client,
)
from tests.integration.test_grace_check import GRACE_END, check, failed_first
from tests.support.aws import LambdaContext, Resources, stream_event, stream_records

CHICAGO = "America/Chicago"
ANNOUNCED_FROM_THE_STREAM = ("AccountPaused", "AccountReactivated")


@pytest.fixture
def cid() -> str:
    """A contractor id of this test alone: localstripe outlives each test's moto state."""
    return f"c-{uuid.uuid4().hex[:8]}"


def account_records(aws: Resources) -> list[dict[str, Any]]:
    """Every MODIFY record of the accounts stream so far (notify's filter)."""
    return [r for r in stream_records(aws.accounts_stream_arn()) if r["eventName"] == "MODIFY"]


def to_notify(notify: ModuleType, records: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(notify.handler(stream_event(records), LambdaContext(function_name="notify")))


def by_id(got: list[dict[str, Any]]) -> dict[str, str]:
    """The pauses and reactivations announced, each event id with its detail as JSON;
    every copy of an id must carry the same detail."""
    found: dict[str, set[str]] = {}
    for event in got:
        if event["detail-type"] in ANNOUNCED_FROM_THE_STREAM:
            detail = event["detail"]
            found.setdefault(detail["event_id"], set()).add(json.dumps(detail, sort_keys=True))
    assert all(len(copies) == 1 for copies in found.values()), found
    return {event_id: copies.pop() for event_id, copies in found.items()}


def reset(budget_reset: ModuleType) -> Any:
    return budget_reset.handler(
        {"run": "budget_reset", "timezone": CHICAGO}, LambdaContext(function_name="budget_reset")
    )


def test_r12_the_stream_announces_a_budget_pause_and_its_reset_as_their_writers_did(
    on_lead, budget_reset, notify, aws: Resources, clock: Clock, cid: str
):
    open_contractor(cid, budget=5_000)
    deliver(on_lead, records_for(aws, [lead("L1", 5_000, cid)]))
    clock.current = datetime(2026, 12, 15, 6, 5, tzinfo=UTC)
    reset(budget_reset)
    written = by_id(events(aws))
    assert sorted(event_id.split(":")[0] for event_id in written) == [
        "AccountPaused",
        "AccountReactivated",
    ]

    to_notify(notify, account_records(aws))
    from_stream = by_id(events(aws))

    assert from_stream == written
    # The records delivered again announce the same facts again, and nothing else.
    to_notify(notify, account_records(aws))
    assert by_id(events(aws)) == written


def test_r12_the_stream_announces_the_non_payment_pause_as_grace_check_did(
    weekly_invoice, on_lead, grace_check, notify, aws: Resources, clock: Clock, cid, localstripe
):
    failed_first(weekly_invoice, on_lead, aws, clock, cid, localstripe)
    records = len(account_records(aws))
    events(aws)

    check(grace_check, clock, GRACE_END)
    written = by_id(events(aws))
    assert [event_id.split(":")[0] for event_id in written] == ["AccountPaused"]

    to_notify(notify, account_records(aws)[records:])

    assert by_id(events(aws)) == written


def test_r12_a_reactivation_its_writer_could_not_announce_is_announced_from_the_stream(
    on_lead, budget_reset, notify, aws: Resources, clock: Clock, cid: str
):
    """The reset stored the roll-over, and then neither the bus nor the unpublished events
    queue took its announcement (as when its transaction's answer is lost and the run
    fails): the run delivered again finds nothing due and announces nothing; the stream
    record announces it."""
    open_contractor(cid, budget=5_000)
    deliver(on_lead, records_for(aws, [lead("L1", 5_000, cid)]))
    events(aws)
    paused = len(account_records(aws))
    clock.current = datetime(2026, 12, 15, 6, 5, tzinfo=UTC)
    refusing = RefusingBus(
        events_client(budget_reset), "server_error", queue=unpublished_client(budget_reset)
    )
    with refusing.installed(), pytest.raises(RuntimeError, match="not reset, announced"):
        reset(budget_reset)
    assert account(cid).pauses.as_dict() == {}
    reset(budget_reset)
    assert by_id(events(aws)) == {}

    to_notify(notify, account_records(aws)[paused:])

    (event_id, detail), *others = by_id(events(aws)).items()
    assert others == []
    assert event_id.startswith(f"AccountReactivated:{cid}:budget:")
    assert json.loads(detail)["at"] == "2026-12-15T06:00:00+00:00"


@pytest.mark.parametrize("refusal", REFUSALS)
def test_r12_a_record_whose_announcement_nothing_took_fails_and_is_announced_again(
    on_lead, notify, republish, aws: Resources, clock: Clock, cid: str, refusal: str
):
    open_contractor(cid, budget=5_000)
    deliver(on_lead, records_for(aws, [lead("L1", 5_000, cid)]))
    written = by_id(events(aws))
    records = account_records(aws)
    refusing = RefusingBus(events_client(notify), refusal, queue=unpublished_client(notify))

    with refusing.installed(), pytest.raises(BatchProcessingError):
        to_notify(notify, records)
    assert "AccountPaused" in refusing.refused
    assert by_id(events(aws)) == {}

    # Stream records a batch failed come again: announced then.
    clock.current += timedelta(minutes=1)
    to_notify(notify, records)
    assert by_id(events(aws)) == written
    assert republished(republish, aws) == []


def test_r12_a_refused_announcement_the_queue_kept_is_republished(
    on_lead, notify, republish, aws: Resources, clock: Clock, cid: str
):
    open_contractor(cid, budget=5_000)
    deliver(on_lead, records_for(aws, [lead("L1", 5_000, cid)]))
    written = by_id(events(aws))

    with RefusingBus(events_client(notify), "throttled").installed():
        assert to_notify(notify, account_records(aws))["batchItemFailures"] == []
    assert by_id(events(aws)) == {}

    assert republished(republish, aws) == []
    assert by_id(events(aws)) == written
