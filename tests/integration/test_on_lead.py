"""on_lead against moto: R1, R2, R7, R8, R12 through the real handler and real tables."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from pynamodb.connection.base import Connection

from functions.adapters.models import QuarantineModel
from tests.integration.conftest import Clock
from tests.integration.steps import (
    EARLIER_SIGNUP,
    account,
    deliver,
    deliver_in_parallel,
    events,
    lead,
    ledger,
    open_contractor,
    records_for,
)
from tests.support.aws import (
    TransactionConflicts,
    drain,
    synthetic_record,
)


def test_r1_lead_is_charged_at_its_price_in_one_round_trip(on_lead, aws, monkeypatch):
    # Given an active account with budget left
    open_contractor()
    records = records_for(aws, [lead("L1", 4_500)])
    calls: list[str] = []
    dispatch = Connection.dispatch

    def counting(self, operation_name, operation_kwargs):
        calls.append(operation_name)
        return dispatch(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "dispatch", counting)
    # When the lead is delivered
    response = deliver(on_lead, records)
    # Then it is charged once at its own price, with one DynamoDB request and no read
    assert response == {"batchItemFailures": []}
    assert calls == ["TransactWriteItems"]
    item = account()
    assert (item.spent_cents, item.remaining_cents, item.unbilled_cents) == (4_500, 95_500, 4_500)
    [charge] = ledger(kind="charge")
    assert (charge.lead_id, charge.amount_cents, charge.category) == ("L1", 4_500, "roofing")
    [charged] = events(aws, "LeadCharged")
    assert charged["detail"]["amount_cents"] == 4_500
    assert charged["detail"]["event_id"] == "LeadCharged:L1"


def test_r2_a_record_delivered_five_times_in_a_row_is_charged_once(on_lead, aws):
    open_contractor()
    records = records_for(aws, [lead("L1", 1_000)])
    for _ in range(5):
        assert deliver(on_lead, records) == {"batchItemFailures": []}
    assert len(ledger(kind="charge")) == 1
    assert account().spent_cents == 1_000
    announced = events(aws, "LeadCharged")
    # Every delivery announces the same fact under the same id; consumers keep one.
    assert {event["detail"]["event_id"] for event in announced} == {"LeadCharged:L1"}


def test_r2_a_record_delivered_five_times_at_once_is_charged_once(on_lead, aws):
    open_contractor()
    records = records_for(aws, [lead("L1", 1_000)])
    with ThreadPoolExecutor(5) as pool:
        responses = list(pool.map(lambda _: deliver_in_parallel(on_lead, records), range(5)))
    assert all(response == {"batchItemFailures": []} for response in responses)
    assert len(ledger(kind="charge")) == 1
    assert account().spent_cents == 1_000
    assert account().unbilled_cents == 1_000


def test_r8_fifty_concurrent_leads_charge_exactly_what_the_budget_allows(on_lead, aws):
    # Given a budget that fits exactly 10 leads of $25
    open_contractor(budget=25_000)
    items = [lead(f"L{n:02d}", 2_500) for n in range(50)]
    records = records_for(aws, items)
    # When the 50 leads arrive at the same time, one invocation each
    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(lambda record: deliver_in_parallel(on_lead, [record]), records))
    # Then exactly 10 are charged, 40 rejected for budget, and the account paused once
    assert all(response == {"batchItemFailures": []} for response in responses)
    assert len(ledger(kind="charge")) == 10
    rejected = ledger(kind="lead_rejected")
    assert len(rejected) == 40
    assert {entry.reason for entry in rejected} <= {"budget", "paused"}
    item = account()
    assert item.spent_cents == 25_000 == item.monthly_budget_cents
    assert item.remaining_cents == 0
    assert list(item.pauses.as_dict()) == ["budget"]
    assert len(ledger(kind="account_paused")) == 1
    announced = events(aws)
    assert sum(e["detail-type"] == "LeadCharged" for e in announced) == 10
    assert sum(e["detail-type"] == "LeadRejected" for e in announced) == 40
    assert [e["detail"]["reason"] for e in announced if e["detail-type"] == "AccountPaused"] == [
        "budget"
    ]


def test_r8_a_lead_priced_at_exactly_the_remaining_budget_is_charged_and_pauses(on_lead, aws):
    open_contractor(budget=10_000)
    deliver(on_lead, records_for(aws, [lead("L1", 6_000)]))
    deliver(on_lead, records_for(aws, [lead("L2", 4_000)]))
    item = account()
    assert (item.spent_cents, item.remaining_cents) == (10_000, 0)
    assert set(item.pauses.as_dict()) == {"budget"}
    assert len(ledger(kind="charge")) == 2
    # And the next lead is rejected because the account is paused
    deliver(on_lead, records_for(aws, [lead("L3", 100)]))
    [rejected] = ledger(kind="lead_rejected")
    assert (rejected.lead_id, rejected.reason) == ("L3", "paused")
    assert account().spent_cents == 10_000
    paused = events(aws, "AccountPaused")
    assert len(paused) == 1


def test_r8_a_lead_that_does_not_fit_is_rejected_and_pauses(on_lead, aws):
    open_contractor(budget=10_000)
    deliver(on_lead, records_for(aws, [lead("L1", 6_000), lead("L2", 5_000)]))
    item = account()
    assert item.spent_cents == 6_000
    assert set(item.pauses.as_dict()) == {"budget"}
    [rejected] = ledger(kind="lead_rejected")
    assert (rejected.lead_id, rejected.reason) == ("L2", "budget")
    got = events(aws, "LeadRejected")
    assert [event["detail"]["reason"] for event in got] == ["budget"]


def test_r7_r8_a_lead_after_the_reset_starts_the_new_period_and_lifts_the_budget_pause(
    on_lead, aws, clock: Clock
):
    open_contractor(budget=5_000, signup=EARLIER_SIGNUP)
    deliver(on_lead, records_for(aws, [lead("L1", 5_000, at="2026-11-14T10:00:00-06:00")]))
    assert set(account().pauses.as_dict()) == {"budget"}
    # When a lead is delivered just after local midnight on the 15th (the signup day)
    clock.set("2026-11-15T00:00:05-06:00")
    deliver(on_lead, records_for(aws, [lead("L2", 1_000, at="2026-11-15T00:00:01-06:00")]))
    item = account()
    # Then it is charged to the new period, whose spend started from zero
    assert item.period_start == "2026-11-15T06:00:00.000000Z"
    assert (item.spent_cents, item.remaining_cents) == (1_000, 4_000)
    assert item.pauses.as_dict() == {}
    assert item.unbilled_cents == 6_000
    reactivated = events(aws, "AccountReactivated")
    assert [event["detail"]["reason"] for event in reactivated] == ["budget"]
    assert len(ledger(kind="account_reactivated")) == 1


def test_r7_a_late_lead_of_the_previous_period_is_charged_to_that_period(on_lead, aws, clock):
    open_contractor(budget=5_000, signup=EARLIER_SIGNUP)
    clock.set("2026-11-15T01:00:00-06:00")
    deliver(on_lead, records_for(aws, [lead("NEW", 4_000, at="2026-11-15T00:30:00-06:00")]))
    # A lead delivered before midnight reaches the billing after the new period began
    deliver(on_lead, records_for(aws, [lead("OLD", 3_000, at="2026-11-14T23:59:00-06:00")]))
    item = account()
    assert (item.spent_cents, item.remaining_cents) == (4_000, 1_000)
    assert item.prev_remaining_cents == 2_000
    assert item.unbilled_cents == 7_000
    assert {entry.lead_id for entry in ledger(kind="charge")} == {"NEW", "OLD"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price_cents", None),
        ("price_cents", "1500"),
        ("price_cents", Decimal("12.5")),
        ("price_cents", -100),
        ("price_cents", 0),
        ("price_cents", 100_001),
        ("price_cents", 10**30),
        ("delivered_at", "yesterday"),
        ("delivered_at", "2026-11-20T09:00:00"),
        ("contractor_id", None),
        ("lead_id", ""),
    ],
)
def test_r1_invalid_records_are_quarantined_and_do_not_block_the_batch(on_lead, aws, field, value):
    open_contractor()
    bad = lead("BAD", 1_000)
    if value is None:
        del bad[field]
    else:
        bad[field] = value
    good = [lead("G1", 1_000), lead("G2", 2_000)]
    records = [
        synthetic_record(good[0]),
        synthetic_record(bad),
        synthetic_record(good[1]),
    ]
    response = deliver(on_lead, records)
    assert response == {"batchItemFailures": []}
    # The valid records of the batch are charged, the invalid one is not
    assert {entry.lead_id for entry in ledger(kind="charge")} == {"G1", "G2"}
    assert account().spent_cents == 3_000
    [kept] = list(QuarantineModel.scan())
    assert kept.reason == "invalid"
    assert field in kept.detail
    [queued] = drain(aws.quarantine_queue_url)
    assert queued["reason"] == "invalid"


def test_a_float_price_is_quarantined(on_lead, aws):
    open_contractor()
    record = synthetic_record(lead("F1", 1_000))
    record["dynamodb"]["NewImage"]["price_cents"] = {"N": "1000.5"}
    assert deliver(on_lead, [record]) == {"batchItemFailures": []}
    assert ledger(kind="charge") == []
    assert next(iter(QuarantineModel.scan())).reason == "invalid"


def test_a_lead_for_an_unknown_contractor_is_quarantined_and_rejected(on_lead, aws):
    open_contractor()
    deliver(on_lead, records_for(aws, [lead("L1", 1_000, contractor_id="nobody")]))
    [kept] = list(QuarantineModel.scan())
    assert (kept.reason, kept.lead_id, kept.contractor_id) == ("unknown_contractor", "L1", "nobody")
    [rejected] = events(aws, "LeadRejected")
    assert rejected["detail"]["reason"] == "unknown_contractor"
    assert account().spent_cents == 0


def test_a_lead_from_the_future_is_quarantined(on_lead, aws, clock):
    open_contractor()
    deliver(on_lead, records_for(aws, [lead("L1", 1_000, at="2026-11-21T09:00:00-06:00")]))
    assert ledger(kind="charge") == []
    assert next(iter(QuarantineModel.scan())).reason == "invalid"


def test_when_events_cannot_be_published_the_records_are_retried(on_lead, aws, monkeypatch):
    open_contractor()
    records = records_for(aws, [lead("L1", 1_000)])
    monkeypatch.setattr(on_lead.intake._bus, "_bus_name", "no-such-bus")
    response = deliver(on_lead, records)
    assert response == {
        "batchItemFailures": [{"itemIdentifier": records[0]["dynamodb"]["SequenceNumber"]}]
    }
    # The retry finds the charge made, charges nothing more and announces it
    monkeypatch.setattr(on_lead.intake._bus, "_bus_name", "lead-billing")
    assert deliver(on_lead, records) == {"batchItemFailures": []}
    assert account().spent_cents == 1_000
    assert [e["detail"]["lead_id"] for e in events(aws, "LeadCharged")] == ["L1"]


def test_r2_transaction_conflicts_are_retried_and_charge_once(on_lead, aws):
    open_contractor()
    records = records_for(aws, [lead("L1", 1_000)])
    conflicts = TransactionConflicts(3)
    conflicts.install()
    try:
        assert deliver(on_lead, records) == {"batchItemFailures": []}
    finally:
        conflicts.uninstall()
    assert conflicts.injected == 3
    assert account().spent_cents == 1_000
    assert len(ledger(kind="charge")) == 1


def test_endless_contention_fails_the_batch_for_the_stream_to_retry(on_lead, aws):
    open_contractor()
    records = records_for(aws, [lead("L1", 1_000), lead("L2", 2_000)])
    conflicts = TransactionConflicts(10**6)
    conflicts.install()
    try:
        # Every record failed: the invocation fails, so the stream retries (and bisects) it
        with pytest.raises(BatchProcessingError):
            deliver(on_lead, records)
    finally:
        conflicts.uninstall()
    assert account().spent_cents == 0
    assert [entry.kind for entry in ledger()] == ["budget_period_started"]
    # Once contention ends, the retried batch is charged
    assert deliver(on_lead, records) == {"batchItemFailures": []}
    assert account().spent_cents == 3_000


def test_r8_a_late_lead_of_a_period_that_ended_paused_for_budget_is_rejected(on_lead, aws, clock):
    open_contractor(budget=5_000, signup=EARLIER_SIGNUP)
    deliver(on_lead, records_for(aws, [lead("A", 3_000, at="2026-11-14T10:00:00-06:00")]))
    deliver(on_lead, records_for(aws, [lead("B", 4_000, at="2026-11-14T11:00:00-06:00")]))
    assert set(account().pauses.as_dict()) == {"budget"}  # B did not fit: paused
    clock.set("2026-11-15T01:00:00-06:00")
    deliver(on_lead, records_for(aws, [lead("NEW", 1_000, at="2026-11-15T00:30:00-06:00")]))
    # A small lead delivered before the reset, while the account was paused, arrives late
    deliver(on_lead, records_for(aws, [lead("LATE", 500, at="2026-11-14T23:00:00-06:00")]))
    item = account()
    assert item.prev_remaining_cents == 0
    assert item.unbilled_cents == 4_000
    rejected = {entry.lead_id: entry.reason for entry in ledger(kind="lead_rejected")}
    assert rejected == {"B": "budget", "LATE": "budget"}


def test_r4_the_charge_that_reaches_the_threshold_flags_the_account_for_invoicing(on_lead, aws):
    # Given the default threshold of $200 and $199.99 unbilled
    open_contractor()
    deliver(on_lead, records_for(aws, [lead("L1", 19_999)]))
    item = account()
    assert (item.unbilled_cents, item.invoice_headroom_cents, item.invoice_due) == (
        19_999,
        1,
        False,
    )
    # Every charge is unbilled until an invoice claims it, and the account is billable
    [charge] = ledger(kind="charge")
    assert charge.unbilled_key == charge.recorded_key
    assert item.billable_timezone == "America/Chicago"
    # When the next lead brings the unbilled charges to $200.00 or more
    deliver(on_lead, records_for(aws, [lead("L2", 1)]))
    item = account()
    # Then the account is flagged for a threshold invoice
    assert (item.unbilled_cents, item.invoice_headroom_cents, item.invoice_due) == (20_000, 0, True)


# R2: a lead's fate is decided once. A lead refused once is never charged by a later
# delivery of its record, and a lead charged once is never refused by one.


def _rejections(aws) -> list[tuple[str, str]]:
    return [(e["detail"]["lead_id"], e["detail"]["reason"]) for e in events(aws, "LeadRejected")]


def test_r2_a_lead_for_a_contractor_unknown_then_is_never_charged_once_the_account_opens(
    on_lead, aws
):
    # Given a lead quarantined because its contractor had no account yet
    record = synthetic_record(lead("U1", 1_000, contractor_id="c-late"))
    assert deliver(on_lead, [record]) == {"batchItemFailures": []}
    assert _rejections(aws) == [("U1", "unknown_contractor")]
    drain(aws.quarantine_queue_url)
    # When the account is opened, then the stream delivers the record again
    open_contractor("c-late")
    assert deliver(on_lead, [record]) == {"batchItemFailures": []}
    # Then the lead is still not charged, its rejection is announced again as it was, and
    # the quarantine still holds it with its reason
    assert ledger("c-late", kind="charge") == []
    assert account("c-late").spent_cents == 0
    assert _rejections(aws) == [("U1", "unknown_contractor")]
    assert events(aws, "LeadCharged") == []
    [kept] = list(QuarantineModel.scan())
    assert (kept.quarantine_id, kept.reason) == ("lead#U1", "unknown_contractor")
    # And the operator is told again (at least once): a notice lost the first time is not
    [queued] = drain(aws.quarantine_queue_url)
    assert (queued["quarantine_id"], queued["reason"]) == ("lead#U1", "unknown_contractor")


def test_r2_a_lead_rejected_for_its_budget_is_not_charged_once_the_budget_is_raised(
    on_lead, api, aws
):
    from tests.integration.test_contractor_billing import call

    # Given a lead rejected because it did not fit the budget (the account paused for it)
    open_contractor(budget=10_000)
    records = records_for(aws, [lead("L1", 6_000), lead("L2", 5_000)])
    deliver(on_lead, records)
    assert set(account().pauses.as_dict()) == {"budget"}
    assert _rejections(aws) == [("L2", "budget")]
    # When the contractor raises the budget (the pause lifts), then L2's record comes again
    status, _ = call(api, "PUT", "/me/budget", {"monthly_cents": 100_000})
    assert status == 200
    assert account().pauses.as_dict() == {}
    assert deliver(on_lead, [records[1]]) == {"batchItemFailures": []}
    # Then L2 stays rejected: only L1 is charged
    assert [entry.lead_id for entry in ledger(kind="charge")] == ["L1"]
    assert account().spent_cents == 6_000
    assert _rejections(aws) == [("L2", "budget")]


def test_r2_a_lead_rejected_while_paused_for_non_payment_is_not_charged_after_reactivation(
    on_lead, aws
):
    from functions.adapters.models import AccountModel

    # Given an account paused for non-payment, and a lead rejected meanwhile
    open_contractor()
    AccountModel("c-1").update(
        actions=[AccountModel.pauses["non_payment"].set("2026-11-19T15:00:00.000000Z")]
    )
    record = synthetic_record(lead("P1", 1_000))
    deliver(on_lead, [record])
    assert _rejections(aws) == [("P1", "paused")]
    # When the account is active again, then the stream delivers the record again
    AccountModel("c-1").update(actions=[AccountModel.pauses["non_payment"].remove()])
    assert deliver(on_lead, [record]) == {"batchItemFailures": []}
    # Then the lead stays rejected
    assert ledger(kind="charge") == []
    assert account().spent_cents == 0
    assert _rejections(aws) == [("P1", "paused")]


def test_r2_a_lead_too_old_for_any_budget_period_stays_quarantined_on_redelivery(
    on_lead, aws, clock
):
    open_contractor(signup=EARLIER_SIGNUP)
    record = synthetic_record(lead("OLD", 1_000, at="2026-08-01T09:00:00-05:00"))
    for _ in range(2):
        assert deliver(on_lead, [record]) == {"batchItemFailures": []}
    assert ledger(kind="charge") == []
    assert _rejections(aws) == [("OLD", "invalid")] * 2
    [kept] = list(QuarantineModel.scan())
    assert (kept.lead_id, kept.reason) == ("OLD", "invalid")


def test_r2_a_future_lead_redelivered_once_its_instant_came_announces_the_first_outcome(
    on_lead, aws, clock: Clock, monkeypatch
):
    # Given a lead dated an hour ahead, quarantined, whose quarantine notice could not be
    # sent (the record failed, for the stream to retry it)
    open_contractor()
    record = synthetic_record(lead("F1", 1_000, at="2026-11-20T10:00:00-06:00"))
    clock.set("2026-11-20T09:00:00-06:00")
    queue_url = on_lead.intake._quarantine._queue_url
    monkeypatch.setattr(on_lead.intake._quarantine, "_queue_url", queue_url + "-gone")
    [failed] = deliver(on_lead, [record])["batchItemFailures"]
    assert failed["itemIdentifier"] == record["dynamodb"]["SequenceNumber"]
    # When the stream retries it two hours later, the queue reachable again
    monkeypatch.setattr(on_lead.intake._quarantine, "_queue_url", queue_url)
    clock.set("2026-11-20T11:00:00-06:00")
    assert deliver(on_lead, [record]) == {"batchItemFailures": []}
    # Then it is not charged, the quarantine keeps its first reason, and the operator is
    # told about it
    assert ledger(kind="charge") == []
    assert account().spent_cents == 0
    [kept] = list(QuarantineModel.scan())
    assert kept.reason == "invalid" and "future" in kept.detail
    [queued] = drain(aws.quarantine_queue_url)
    assert (queued["quarantine_id"], queued["reason"]) == ("lead#F1", "invalid")
    assert {reason for _, reason in _rejections(aws)} == {"invalid"}


def test_r2_a_charged_lead_is_never_refused_by_a_later_record_of_it(on_lead, aws, clock: Clock):
    # Given a lead charged
    open_contractor()
    clock.set("2026-11-20T09:00:00-06:00")
    [record] = records_for(aws, [lead("C1", 1_000)])
    deliver(on_lead, [record])
    events(aws)
    # When its record comes again to a billing whose clock is 10 minutes behind (the lead
    # looks dated in the future), and the lead is written again broken (no price)
    clock.set("2026-11-20T08:50:00-06:00")
    assert deliver(on_lead, [record]) == {"batchItemFailures": []}
    broken = lead("C1", 1_000)
    del broken["price_cents"]
    assert deliver(on_lead, [synthetic_record(broken)]) == {"batchItemFailures": []}
    # Then the lead stays charged once: nothing is quarantined or rejected, and the charge
    # is announced again
    assert [(entry.lead_id, entry.amount_cents) for entry in ledger(kind="charge")] == [
        ("C1", 1_000)
    ]
    assert account().spent_cents == 1_000
    assert list(QuarantineModel.scan()) == []
    assert drain(aws.quarantine_queue_url) == []
    announced = [(e["detail-type"], e["detail"]["lead_id"]) for e in events(aws)]
    assert announced == [("LeadCharged", "C1")] * 2


def test_r2_copies_of_a_quarantined_lead_delivered_at_once_are_never_charged(
    on_lead, aws, clock: Clock
):
    # Given a lead quarantined for its future date
    open_contractor()
    record = synthetic_record(lead("F2", 1_000, at="2026-11-20T10:00:00-06:00"))
    clock.set("2026-11-20T09:00:00-06:00")
    deliver(on_lead, [record])
    # When, once that instant came, five invocations deliver its record at the same time
    clock.set("2026-11-20T10:30:00-06:00")
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: deliver_in_parallel(on_lead, [record]), range(5)))
    # Then none charges it
    assert all(answer == {"batchItemFailures": []} for answer in answers)
    assert ledger(kind="charge") == []
    assert account().spent_cents == 0
