"""How an SQS mapping delivers messages: the Lambda SQS event, batch size, concurrency,
partial batch failures, filters, and failures left to the queue's redrive policy, with a
scripted function and an in-memory queue in place of a worker and the emulator."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from local.clock import SimulatedClock
from local.filters import FilterPattern
from local.queues import UNREDRIVEN_RECEIVE_CAP, QueuePump, failed_message_ids, sqs_record
from local.runtime import Invocation
from local.specs import QueueMappingSpec

pytestmark = pytest.mark.e2e

NOW = datetime(2025, 3, 7, 12, tzinfo=UTC)
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:Work"
QUEUE_URL = "http://q/Work"


class FakeQueue:
    """Visible messages, in order; a received message is hidden until deleted or made
    visible again; a receive counts, and past ``max_receives`` moves it to ``dead``."""

    def __init__(self, max_receives: int | None = None) -> None:
        self.max_receives = max_receives
        self.visible: list[dict[str, Any]] = []
        self.hidden: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []
        self.dead: list[str] = []
        self.receive_sizes: list[int] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def send(self, body: Any, **attributes: Any) -> str:
        message_id = f"m{next(self._ids)}"
        self.visible.append(
            {"id": message_id, "body": json.dumps(body), "receives": 0, "attributes": attributes}
        )
        return message_id

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["QueueUrl"] == QUEUE_URL
        assert kwargs["MaxNumberOfMessages"] <= 10
        with self._lock:
            out = []
            while self.visible and len(out) < kwargs["MaxNumberOfMessages"]:
                message = self.visible.pop(0)
                if self.max_receives is not None and message["receives"] >= self.max_receives:
                    self.dead.append(message["id"])
                    continue
                message["receives"] += 1
                handle = f"{message['id']}/{message['receives']}"
                self.hidden[handle] = message
                out.append(
                    {
                        "MessageId": message["id"],
                        "ReceiptHandle": handle,
                        "Body": message["body"],
                        "MD5OfBody": "md5",
                        "Attributes": {
                            "ApproximateReceiveCount": str(message["receives"]),
                            "SentTimestamp": "1",
                            "SenderId": "AIDLOCAL",
                        },
                        "MessageAttributes": message["attributes"],
                    }
                )
            self.receive_sizes.append(len(out))
            return {"Messages": out} if out else {}

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> None:
        assert len(Entries) <= 10
        with self._lock:
            for entry in Entries:
                self.deleted.append(self.hidden.pop(entry["ReceiptHandle"])["id"])

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> None:
        assert len(Entries) <= 10
        with self._lock:
            for entry in Entries:
                assert entry["VisibilityTimeout"] == 0
                self.visible.append(self.hidden.pop(entry["ReceiptHandle"]))


class ScriptedRuntime:
    """Answers each invocation with ``behave(bodies of the batch, records)``."""

    def __init__(self, behave: Callable[[list[Any], list[dict[str, Any]]], tuple[bool, Any]]):
        self.behave = behave
        self.events: list[dict[str, Any]] = []
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()

    def invoke(self, function: str, event: Any, source: str = "direct") -> Invocation:
        assert source == "sqs"
        with self._lock:
            self.events.append(event)
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            records = event["Records"]
            ok, payload = self.behave([json.loads(r["body"]) for r in records], records)
        finally:
            with self._lock:
                self.running -= 1
        return Invocation(
            function, "req", source, NOW, ok, payload if ok else None, None if ok else payload, 1
        )

    @property
    def batches(self) -> list[list[Any]]:
        return [[json.loads(r["body"]) for r in event["Records"]] for event in self.events]


def pump(
    behave: Callable[[list[Any], list[dict[str, Any]]], tuple[bool, Any]],
    *,
    queue: FakeQueue | None = None,
    batch_size: int = 10,
    concurrency: int | None = None,
    report: bool = True,
    filters: tuple[FilterPattern, ...] = (),
    max_receive_count: int | None = 3,
    fifo: bool = False,
) -> tuple[QueuePump, ScriptedRuntime, FakeQueue]:
    spec = QueueMappingSpec(
        logical_id="WorkMapping",
        function="Work",
        queue="WorkQueue",
        queue_url=QUEUE_URL,
        queue_arn=QUEUE_ARN,
        fifo=fifo,
        batch_size=batch_size,
        filters=filters,
        report_batch_item_failures=report,
        maximum_concurrency=concurrency,
        max_receive_count=max_receive_count,
        enabled=True,
    )
    runtime = ScriptedRuntime(behave)
    fake = queue or FakeQueue(max_receives=max_receive_count)
    queue_pump = QueuePump(
        spec, runtime, SimulatedClock(NOW), {"sqs": fake}.__getitem__, lambda line: None
    )
    return queue_pump, runtime, fake


def succeed(bodies: list[Any], records: list[dict[str, Any]]) -> tuple[bool, Any]:
    return True, {"batchItemFailures": []}


def test_a_record_has_the_shape_lambda_gives_it():
    record = sqs_record(
        {
            "MessageId": "m1",
            "ReceiptHandle": "h1",
            "Body": '{"a": 1}',
            "MD5OfBody": "md5",
            "MD5OfMessageAttributes": "md5a",
            "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1", "SenderId": "S"},
            "MessageAttributes": {
                "kind": {"DataType": "String", "StringValue": "weekly"},
                "blob": {"DataType": "Binary", "BinaryValue": b"xy"},
            },
        },
        QUEUE_ARN,
        NOW,
    )
    millis = str(int(NOW.timestamp() * 1000))
    assert record == {
        "messageId": "m1",
        "receiptHandle": "h1",
        "body": '{"a": 1}',
        "attributes": {
            "ApproximateReceiveCount": "2",
            "SentTimestamp": millis,
            "ApproximateFirstReceiveTimestamp": millis,
            "SenderId": "S",
        },
        "messageAttributes": {
            "kind": {
                "stringValue": "weekly",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            },
            "blob": {
                "binaryValue": "eHk=",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "Binary",
            },
        },
        "md5OfBody": "md5",
        "md5OfMessageAttributes": "md5a",
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }
    assert json.loads(json.dumps(record)) == record


RECORDS = [{"messageId": "a"}, {"messageId": "b"}, {"messageId": "c"}]


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "b"}, {"itemIdentifier": "c"}]}, {"b", "c"}),
        ({"batchItemFailures": [{"itemIdentifier": "z"}]}, {"a", "b", "c"}),  # not in batch
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"a", "b", "c"}),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, {"a", "b", "c"}),
        ({"batchItemFailures": [{}]}, {"a", "b", "c"}),
        ({"batchItemFailures": "b"}, {"a", "b", "c"}),
    ],
)
def test_reported_failures(result, expected):
    assert failed_message_ids(RECORDS, result) == expected


def test_every_message_is_delivered_once_in_batches_of_at_most_the_batch_size():
    queue_pump, runtime, queue = pump(succeed, batch_size=4)
    ids = [queue.send({"n": n}) for n in range(10)]
    assert queue_pump.poll_once() == 10
    assert [len(batch) for batch in runtime.batches] == [4, 4, 2]
    assert sorted(queue.deleted) == sorted(ids)
    assert queue.visible == [] and queue.hidden == {}


def test_a_batch_larger_than_one_receive_takes_several_receives():
    queue_pump, runtime, queue = pump(succeed, batch_size=25)
    for n in range(25):
        queue.send({"n": n})
    queue_pump.poll_once()
    assert [len(batch) for batch in runtime.batches] == [25]
    assert queue.receive_sizes[:3] == [10, 10, 5]


def test_reported_failures_stay_on_the_queue_and_the_rest_is_deleted():
    def behave(bodies: list[Any], records: list[dict[str, Any]]) -> tuple[bool, Any]:
        return True, {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]}
                for b, r in zip(bodies, records, strict=True)
                if b.get("bad")
            ]
        }

    queue_pump, runtime, queue = pump(behave, max_receive_count=3)
    good = queue.send({"n": 1})
    bad = queue.send({"n": 2, "bad": True})
    queue_pump.poll_once()
    # Received three times (the redrive policy's maxReceiveCount), then dead-lettered.
    assert runtime.batches == [[{"n": 1}, {"n": 2, "bad": True}], *[[{"n": 2, "bad": True}]] * 2]
    assert queue.deleted == [good]
    assert queue.dead == [bad]


def test_a_failed_invocation_keeps_the_whole_batch():
    queue_pump, runtime, queue = pump(
        lambda bodies, records: (False, {"errorType": "RuntimeError"}), max_receive_count=2
    )
    first, second = queue.send({"n": 1}), queue.send({"n": 2})
    queue_pump.poll_once()
    assert runtime.batches == [[{"n": 1}, {"n": 2}]] * 2
    assert queue.deleted == []
    assert queue.dead == [first, second]


def test_reported_failures_are_ignored_without_report_batch_item_failures():
    queue_pump, runtime, queue = pump(
        lambda bodies, records: (
            True,
            {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]},
        ),
        report=False,
    )
    sent = queue.send({"n": 1})
    queue_pump.poll_once()
    assert len(runtime.batches) == 1
    assert queue.deleted == [sent]


def test_messages_no_filter_matches_are_deleted_without_an_invocation():
    pattern = FilterPattern.parse({"body": {"kind": ["work"]}})
    queue_pump, runtime, queue = pump(succeed, filters=(pattern,))
    work = queue.send({"kind": "work"})
    noise = queue.send({"kind": "noise"})
    plain = queue.send("not a document")
    queue_pump.poll_once()
    assert runtime.batches == [[{"kind": "work"}]]
    assert sorted(queue.deleted) == sorted([work, noise, plain])


def test_without_a_redrive_policy_a_failing_message_is_left_after_the_cap():
    queue_pump, runtime, queue = pump(
        lambda bodies, records: (False, {"errorType": "E"}), max_receive_count=None
    )
    queue.send({"n": 1})
    queue_pump.poll_once()
    assert len(runtime.batches) == UNREDRIVEN_RECEIVE_CAP
    assert queue.visible == [] and len(queue.hidden) == 1  # left to its visibility timeout


def test_at_most_maximum_concurrency_batches_run_at_once():
    def slow(bodies: list[Any], records: list[dict[str, Any]]) -> tuple[bool, Any]:
        time.sleep(0.05)
        return True, None

    queue_pump, runtime, queue = pump(slow, batch_size=2, concurrency=3)
    for n in range(20):
        queue.send({"n": n})
    try:
        assert queue_pump.poll_once() == 20
    finally:
        queue_pump.stop()
    assert runtime.most_running == 3
    assert len(queue.deleted) == 20


def test_a_fifo_queue_is_read_one_batch_at_a_time():
    def slow(bodies: list[Any], records: list[dict[str, Any]]) -> tuple[bool, Any]:
        time.sleep(0.02)
        return True, None

    queue_pump, runtime, queue = pump(slow, batch_size=1, concurrency=5, fifo=True)
    for n in range(4):
        queue.send({"n": n})
    queue_pump.poll_once()
    queue_pump.stop()
    assert queue_pump.concurrency == 1
    assert runtime.most_running == 1
    assert runtime.batches == [[{"n": n}] for n in range(4)]
