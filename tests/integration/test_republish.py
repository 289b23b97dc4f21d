"""The unpublished events queue and the republish function.

The bus adapter keeps the entries EventBridge refuses (an error per entry, a throttled or
failed call) on the unpublished events queue, and reports as refused only what neither
took: the caller succeeds when the queue kept its events and fails as before when it did
not. The republish function puts each kept entry on the bus again, fails the messages
whose entry the bus refuses again, and publishes the same event id however often a
message comes.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.awsrequest import AWSResponse

from functions.adapters.event_bus import EventBus, UnpublishedEvents, event_detail
from functions.billing.events import LeadRejected, RejectReason
from local.queues import sqs_record
from tests.integration.conftest import Clock
from tests.integration.steps import deliver, events, lead, open_contractor, records_for
from tests.integration.test_event_faults import (
    REFUSALS,
    RefusingBus,
    events_client,
    republished,
    unpublished_client,
)
from tests.support.aws import BUS, LambdaContext, Resources


def kept(aws: Resources) -> list[dict[str, Any]]:
    """The messages of the unpublished events queue (left there: visible again at once)."""
    sqs = boto3.client("sqs")
    found: list[dict[str, Any]] = []
    while messages := sqs.receive_message(
        QueueUrl=aws.unpublished_events_queue_url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
    ).get("Messages", []):
        found += messages
    for message in found:
        sqs.change_message_visibility(
            QueueUrl=aws.unpublished_events_queue_url,
            ReceiptHandle=message["ReceiptHandle"],
            VisibilityTimeout=0,
        )
    return found


def kept_ids(aws: Resources) -> list[str]:
    """The event ids of the queue's messages, from their attribute, each checked against
    the entry the message holds."""
    ids = []
    for message in kept(aws):
        event_id = message["MessageAttributes"]["event_id"]["StringValue"]
        assert json.loads(json.loads(message["Body"])["Detail"])["event_id"] == event_id
        ids.append(event_id)
    return sorted(ids)


def rejected(count: int) -> list[LeadRejected]:
    return [LeadRejected("c", f"L{n:02d}", RejectReason.INVALID, "x") for n in range(count)]


def bus_with_queue(on_lead: ModuleType, aws: Resources) -> EventBus:
    return EventBus(
        events_client(on_lead),
        BUS,
        UnpublishedEvents(unpublished_client(on_lead), aws.unpublished_events_queue_url),
    )


# ---------------------------------------------------------------------- the fallback


@pytest.mark.parametrize("refusal", REFUSALS)
def test_entries_the_bus_refuses_are_kept_on_the_queue_with_their_event_ids(
    on_lead, aws: Resources, clock: Clock, refusal: str
):
    bus = bus_with_queue(on_lead, aws)
    sent = rejected(12)  # two PutEvents calls, two SendMessageBatch calls

    with RefusingBus(events_client(on_lead), refusal).installed():
        assert bus.publish(sent) == []

    assert events(aws) == []
    assert kept_ids(aws) == sorted(event.event_id for event in sent)
    entries = [json.loads(message["Body"]) for message in kept(aws)]
    assert {entry["EventBusName"] for entry in entries} == {BUS}
    assert sorted(json.loads(entry["Detail"])["lead_id"] for entry in entries) == [
        f"L{n:02d}" for n in range(12)
    ]


def test_only_what_neither_the_bus_nor_the_queue_took_is_refused(
    on_lead, aws: Resources, clock: Clock
):
    bus = bus_with_queue(on_lead, aws)
    queue = unpublished_client(on_lead)
    calls = 0

    def second_batch_fails(params: dict[str, Any], **_: Any) -> Any:
        """SQS answers the second batch with its first entry failed (the others
        successful, without moto being asked)."""
        nonlocal calls
        calls += 1
        if calls == 1:
            return None
        ids = [entry["Id"] for entry in json.loads(params["body"])["Entries"]]
        parsed = {
            "Successful": [
                {"Id": id_, "MessageId": id_, "MD5OfMessageBody": ""} for id_ in ids[1:]
            ],
            "Failed": [{"Id": ids[0], "SenderFault": False, "Code": "InternalError"}],
            "ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": {}},
        }
        return AWSResponse("https://sqs", 200, {}, None), parsed

    queue.meta.events.register(
        "before-call.sqs.SendMessageBatch", second_batch_fails, unique_id="partly"
    )
    try:
        with RefusingBus(events_client(on_lead), "failed_entries").installed():
            # The second batch's first entry is position 10.
            assert bus.publish(rejected(12)) == [10]
    finally:
        queue.meta.events.unregister("before-call.sqs.SendMessageBatch", unique_id="partly")

    with RefusingBus(events_client(on_lead), "server_error", queue=queue).installed():
        assert bus.publish(rejected(3)) == [0, 1, 2]


def test_a_bus_that_takes_everything_sends_nothing_to_the_queue(
    on_lead, aws: Resources, clock: Clock
):
    bus = bus_with_queue(on_lead, aws)
    sent: list[str] = []
    queue = unpublished_client(on_lead)
    queue.meta.events.register(
        "before-call.sqs.SendMessageBatch",
        lambda **kwargs: sent.append("SendMessageBatch"),
        unique_id="watch",
    )
    try:
        assert bus.publish(rejected(12)) == []
    finally:
        queue.meta.events.unregister("before-call.sqs.SendMessageBatch", unique_id="watch")

    assert sent == []
    assert len(events(aws)) == 12


def test_a_call_refused_for_a_reason_of_its_own_is_not_kept(on_lead, aws: Resources, clock: Clock):
    """Not throttled, not a 5xx: access denied, a malformed request. Retrying the entry
    later would fail the same way; the caller fails its input instead."""
    client = events_client(on_lead)

    def denied(**_: Any) -> Any:
        parsed = {
            "Error": {"Code": "AccessDeniedException", "Message": "denied by the test"},
            "ResponseMetadata": {"HTTPStatusCode": 400, "HTTPHeaders": {}},
        }
        return AWSResponse("https://events", 400, {}, None), parsed

    client.meta.events.register("before-call.eventbridge.PutEvents", denied, unique_id="deny")
    try:
        assert bus_with_queue(on_lead, aws).publish(rejected(2)) == [0, 1]
    finally:
        client.meta.events.unregister("before-call.eventbridge.PutEvents", unique_id="deny")
    assert kept(aws) == []


@pytest.mark.parametrize("refusal", REFUSALS)
def test_a_lead_whose_events_the_queue_kept_is_settled_and_announced_by_republish(
    on_lead, republish, aws: Resources, clock: Clock, refusal: str
):
    """The stream record succeeds: nothing is delivered again; republish announces."""
    open_contractor("c-kept", budget=100_000)
    records = records_for(aws, [lead("c-kept-L1", 2_500, "c-kept")])

    with RefusingBus(events_client(on_lead), refusal).installed() as refusing:
        assert deliver(on_lead, records) == {"batchItemFailures": []}

    assert refusing.refused == ["LeadCharged"]
    assert events(aws) == []
    assert kept_ids(aws) == ["LeadCharged:c-kept-L1"]
    assert republished(republish, aws) == []
    got = events(aws)
    assert [(event["detail-type"], event["detail"]["event_id"]) for event in got] == [
        ("LeadCharged", "LeadCharged:c-kept-L1")
    ]
    assert got[0]["source"] == "lead-billing"
    assert kept(aws) == []


def test_a_lead_whose_events_neither_took_fails_its_record(on_lead, aws: Resources, clock: Clock):
    open_contractor("c-lost", budget=100_000)
    records = records_for(aws, [lead("c-lost-L1", 2_500, "c-lost")])

    with RefusingBus(
        events_client(on_lead), "throttled", queue=unpublished_client(on_lead)
    ).installed():
        failures = deliver(on_lead, records)["batchItemFailures"]

    assert [failure["itemIdentifier"] for failure in failures] == [
        record["dynamodb"]["SequenceNumber"] for record in records
    ]
    assert kept(aws) == []


# ---------------------------------------------------------------------- republish


def _keep(aws: Resources, on_lead: ModuleType, sent: list[LeadRejected]) -> None:
    with RefusingBus(events_client(on_lead), "failed_entries").installed():
        assert bus_with_queue(on_lead, aws).publish(sent) == []


def test_republish_publishes_the_entries_as_the_bus_would_have_received_them(
    on_lead, republish, aws: Resources, clock: Clock
):
    sent = rejected(12)
    _keep(aws, on_lead, sent)

    assert republished(republish, aws) == []

    got = sorted(events(aws), key=lambda event: event["detail"]["event_id"])
    assert [event["detail"] for event in got] == [event_detail(event) for event in sent]
    assert {(event["source"], event["detail-type"]) for event in got} == {
        ("lead-billing", "LeadRejected")
    }
    assert kept(aws) == []


def test_republish_fails_the_message_whose_entry_the_bus_refuses_again(
    on_lead, republish, aws: Resources, clock: Clock
):
    sent = rejected(3)
    _keep(aws, on_lead, sent)
    client = republish.republisher._bus._client

    def refuse_l01(params: dict[str, Any], **_: Any) -> Any:
        entries = json.loads(params["body"])["Entries"]
        if not any('"L01"' in entry["Detail"] for entry in entries):
            return None
        parsed = {
            "FailedEntryCount": 1,
            "Entries": [{"ErrorCode": "ThrottlingException", "ErrorMessage": "again"}],
            "ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": {}},
        }
        return AWSResponse("https://events", 200, {}, None), parsed

    client.meta.events.register("before-call.eventbridge.PutEvents", refuse_l01, unique_id="l01")
    try:
        assert republished(republish, aws) == ["LeadRejected:L01"]
    finally:
        client.meta.events.unregister("before-call.eventbridge.PutEvents", unique_id="l01")

    assert sorted(event["detail"]["event_id"] for event in events(aws)) == [
        "LeadRejected:L00",
        "LeadRejected:L02",
    ]
    # SQS delivers the failed message again; the bus takes it this time.
    assert kept_ids(aws) == ["LeadRejected:L01"]
    assert republished(republish, aws) == []
    assert [event["detail"]["event_id"] for event in events(aws)] == ["LeadRejected:L01"]
    assert kept(aws) == []


def test_a_batch_whose_every_entry_is_refused_again_fails_the_invocation(
    on_lead, republish, aws: Resources, clock: Clock
):
    _keep(aws, on_lead, rejected(2))
    client = republish.republisher._bus._client
    messages = kept(aws)
    arn = f"arn:aws:sqs:us-east-1:123456789012:{aws.unpublished_events_queue_url.split('/')[-1]}"
    records = [sqs_record(message, arn, clock.current) for message in messages]

    with (
        RefusingBus(client, "server_error").installed(),
        pytest.raises(BatchProcessingError, match="All records failed"),
    ):
        republish.handler({"Records": records}, LambdaContext(function_name="republish"))
    assert events(aws) == []


def test_a_message_delivered_twice_publishes_the_same_event_id(
    on_lead, republish, aws: Resources, clock: Clock
):
    _keep(aws, on_lead, rejected(1))
    (message,) = kept(aws)
    arn = f"arn:aws:sqs:us-east-1:123456789012:{aws.unpublished_events_queue_url.split('/')[-1]}"
    record = sqs_record(message, arn, clock.current)

    for _ in range(2):
        response = republish.handler(
            {"Records": [record]}, LambdaContext(function_name="republish")
        )
        assert response == {"batchItemFailures": []}

    got = events(aws)
    assert [event["detail"]["event_id"] for event in got] == ["LeadRejected:L00"] * 2
    assert got[0]["detail"] == got[1]["detail"]


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps({"Source": "lead-billing", "DetailType": "LeadRejected"}),
        json.dumps(
            {
                "Source": "someone-else",
                "DetailType": "LeadRejected",
                "Detail": json.dumps({"event_id": "x"}),
                "EventBusName": BUS,
            }
        ),
        json.dumps(
            {
                "Source": "lead-billing",
                "DetailType": "LeadRejected",
                "Detail": json.dumps({"no": "id"}),
                "EventBusName": BUS,
            }
        ),
    ],
)
def test_a_message_that_holds_no_billing_entry_fails_and_publishes_nothing(
    republish, aws: Resources, clock: Clock, body: str
):
    record = sqs_record(
        {"MessageId": "m-1", "ReceiptHandle": "h", "Body": body},
        "arn:aws:sqs:us-east-1:123456789012:test-unpublished-events",
        clock.current,
    )

    with pytest.raises(BatchProcessingError, match="All records failed"):
        republish.handler({"Records": [record]}, LambdaContext(function_name="republish"))
    assert events(aws) == []


def test_republish_puts_the_entry_on_its_own_bus(on_lead, republish, aws: Resources, clock: Clock):
    """The entry's bus is the one the function is configured with, whatever the message
    names (its role may put events on that bus only)."""
    entry = {
        "Source": "lead-billing",
        "DetailType": "LeadRejected",
        "Detail": json.dumps(event_detail(rejected(1)[0])),
        "EventBusName": "another-bus",
    }
    record = sqs_record(
        {"MessageId": "m-1", "ReceiptHandle": "h", "Body": json.dumps(entry)},
        "arn:aws:sqs:us-east-1:123456789012:test-unpublished-events",
        clock.current,
    )

    response = republish.handler({"Records": [record]}, LambdaContext(function_name="republish"))

    assert response == {"batchItemFailures": []}
    assert [event["detail"]["event_id"] for event in events(aws)] == ["LeadRejected:L00"]
