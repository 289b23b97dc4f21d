"""How a stream mapping delivers batches: partial failures, bisection, retries and the
on-failure destination, with a scripted function in place of a worker."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from local.clock import SimulatedClock
from local.filters import FilterPattern
from local.runtime import Invocation
from local.specs import StreamMappingSpec
from local.streams import StreamPump, first_failure, lambda_record

pytestmark = pytest.mark.e2e

NOW = datetime(2025, 3, 5, 12, tzinfo=UTC)
STREAM = "arn:aws:dynamodb:us-east-1:123456789012:table/Leads/stream/x"


def records(*sequence_numbers: str) -> list[dict[str, Any]]:
    return [
        lambda_record(
            {
                "eventID": s,
                "eventName": "INSERT",
                "dynamodb": {
                    "Keys": {"lead_id": {"S": s}},
                    "NewImage": {"lead_id": {"S": s}},
                    "SequenceNumber": s,
                    "SizeBytes": 10,
                    "StreamViewType": "NEW_IMAGE",
                    "ApproximateCreationDateTime": datetime(2020, 1, 1, tzinfo=UTC),
                },
            },
            STREAM,
            NOW,
        )
        for s in sequence_numbers
    ]


class ScriptedRuntime:
    """Answers each invocation with ``behave(sequence numbers of the batch)``."""

    def __init__(self, behave: Callable[[list[str]], tuple[bool, Any]]) -> None:
        self.behave = behave
        self.batches: list[list[str]] = []

    def invoke(self, function: str, event: Any, source: str = "direct") -> Invocation:
        batch = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        self.batches.append(batch)
        ok, payload = self.behave(batch)
        return Invocation(
            function,
            f"req-{len(self.batches)}",
            source,
            NOW,
            ok,
            payload if ok else None,
            None if ok else payload,
            1,
        )


class FakeSqs:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def get_queue_url(self, QueueName: str) -> dict[str, str]:
        return {"QueueUrl": f"http://q/{QueueName}"}

    def send_message(self, QueueUrl: str, MessageBody: str) -> None:
        self.sent.append((QueueUrl, json.loads(MessageBody)))


def pump(
    behave: Callable[[list[str]], tuple[bool, Any]],
    *,
    report: bool = True,
    retries: int = 2,
    bisect: bool = False,
) -> tuple[StreamPump, ScriptedRuntime, FakeSqs]:
    spec = StreamMappingSpec(
        logical_id="Mapping",
        function="OnLead",
        table="Leads",
        stream_arn=STREAM,
        batch_size=10,
        starting_position="TRIM_HORIZON",
        filters=(),
        report_batch_item_failures=report,
        maximum_retry_attempts=retries,
        bisect_on_error=bisect,
        on_failure_arn="arn:aws:sqs:us-east-1:123456789012:Failures",
        enabled=True,
    )
    runtime = ScriptedRuntime(behave)
    sqs = FakeSqs()
    clients = {"sqs": sqs, "dynamodbstreams": object()}
    stream_pump = StreamPump(
        spec,
        "arn:aws:lambda:us-east-1:123456789012:function:OnLead",
        runtime,
        SimulatedClock(NOW),
        clients.__getitem__,
        lambda line: None,
    )
    return stream_pump, runtime, sqs


def test_a_lambda_record_has_the_shape_lambda_gives_it():
    (record,) = records("100")
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventSourceARN"] == STREAM
    assert record["awsRegion"] == "us-east-1"
    assert record["dynamodb"]["ApproximateCreationDateTime"] == int(NOW.timestamp())
    assert record["dynamodb"]["SequenceNumber"] == "100"
    assert json.loads(json.dumps(record)) == record


def test_binary_attributes_are_base64_in_the_event():
    record = lambda_record(
        {
            "eventName": "INSERT",
            "dynamodb": {"NewImage": {"b": {"B": b"xy"}}, "SequenceNumber": "1"},
        },
        STREAM,
        NOW,
    )
    assert record["dynamodb"]["NewImage"]["b"] == {"B": "eHk="}


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (None, None),
        ({}, None),
        ({"batchItemFailures": []}, None),
        ({"batchItemFailures": [{"itemIdentifier": "3"}, {"itemIdentifier": "2"}]}, 1),
        ({"batchItemFailures": [{"itemIdentifier": "9"}]}, 0),  # not in the batch: all failed
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, 0),
        ({"batchItemFailures": [{}]}, 0),
        ({"batchItemFailures": "3"}, 0),
    ],
)
def test_reported_failures(result, expected):
    assert first_failure(records("1", "2", "3"), result) == expected


def test_a_partial_failure_is_retried_from_the_lowest_failed_record():
    def behave(batch: list[str]) -> tuple[bool, Any]:
        return True, {
            "batchItemFailures": [{"itemIdentifier": "2"}]
            if "2" in batch and len(batch) == 3
            else []
        }

    stream_pump, runtime, sqs = pump(behave)
    stream_pump.deliver("shard-1", records("1", "2", "3"))
    assert runtime.batches == [["1", "2", "3"], ["2", "3"]]
    assert sqs.sent == []


def test_failures_that_outlast_the_retries_go_to_the_destination():
    stream_pump, runtime, sqs = pump(
        lambda batch: (True, {"batchItemFailures": [{"itemIdentifier": "2"}]})
    )
    stream_pump.deliver("shard-1", records("1", "2", "3"))
    assert runtime.batches == [["1", "2", "3"], ["2", "3"], ["2", "3"]]
    ((url, message),) = sqs.sent
    assert url == "http://q/Failures"
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 3
    assert message["requestContext"]["functionArn"].endswith(":function:OnLead")
    assert "functionError" not in message["responseContext"]
    info = message["DDBStreamBatchInfo"]
    assert (info["shardId"], info["startSequenceNumber"], info["endSequenceNumber"]) == (
        "shard-1",
        "2",
        "3",
    )
    assert info["batchSize"] == 2
    assert info["streamArn"] == STREAM
    assert message["timestamp"] == "2025-03-05T12:00:00.000Z"


def test_a_function_error_bisects_the_batch_until_the_bad_record_is_alone():
    def behave(batch: list[str]) -> tuple[bool, Any]:
        if "3" in batch:
            return False, {"errorType": "RuntimeError", "errorMessage": "boom"}
        return True, None

    stream_pump, runtime, sqs = pump(behave, bisect=True, retries=3)
    stream_pump.deliver("shard-1", records("1", "2", "3", "4"))
    # In shard order: record 4 waits until record 3 is resolved.
    assert runtime.batches == [["1", "2", "3", "4"], ["1", "2"], ["3", "4"], ["3"], ["3"], ["4"]]
    ((_, message),) = sqs.sent
    assert message["responseContext"]["functionError"] == "Unhandled"
    assert message["DDBStreamBatchInfo"]["startSequenceNumber"] == "3"
    assert message["DDBStreamBatchInfo"]["batchSize"] == 1


def test_without_bisection_the_whole_batch_is_retried():
    stream_pump, runtime, sqs = pump(lambda batch: (False, {"errorType": "E"}), retries=1)
    stream_pump.deliver("shard-1", records("1", "2"))
    assert runtime.batches == [["1", "2"], ["1", "2"]]
    assert sqs.sent[0][1]["DDBStreamBatchInfo"]["batchSize"] == 2


def test_reported_failures_are_ignored_without_report_batch_item_failures():
    stream_pump, runtime, sqs = pump(
        lambda batch: (True, {"batchItemFailures": [{"itemIdentifier": "1"}]}), report=False
    )
    stream_pump.deliver("shard-1", records("1"))
    assert runtime.batches == [["1"]]
    assert sqs.sent == []


def test_filters_drop_records_before_batching():
    stream_pump, runtime, _ = pump(lambda batch: (True, None))
    object.__setattr__(
        stream_pump.spec,
        "filters",
        (FilterPattern.parse({"dynamodb": {"NewImage": {"lead_id": {"S": ["2"]}}}}),),
    )
    raw = [
        {
            "eventName": "INSERT",
            "dynamodb": {"NewImage": {"lead_id": {"S": s}}, "SequenceNumber": s},
        }
        for s in ("1", "2", "3")
    ]
    stream_pump._handle("shard-1", raw)
    assert runtime.batches == [["2"]]
