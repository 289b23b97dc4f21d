"""SQS event source mappings, run the way Lambda runs them.

For each mapping a pump polls the queue and hands its messages to the function in batches
of at most ``BatchSize`` (the Lambda SQS event: ``{"Records": [...]}``), running at most
``ScalingConfig.MaximumConcurrency`` batches at once. When an invocation returns:

* the messages of a batch that succeeded are deleted;
* with ``ReportBatchItemFailures``, the messages the function reported are kept and the
  others deleted; a malformed report keeps the whole batch, as in Lambda;
* the messages of a failed invocation are all kept.

A kept message goes back to the queue and is received again, until the queue's
``RedrivePolicy`` moves it to the dead-letter queue after ``maxReceiveCount`` receives
(the emulator applies the redrive policy on receive). A message that matches none of the
mapping's filters is deleted without an invocation, as Lambda does.

Where the local stack differs from Lambda, so that it can settle on a simulated clock:

* a kept message is visible again at once, not after the queue's visibility timeout: the
  simulated clock stands still while the stack settles, and waiting on the wall clock
  would stall it. On a queue without a redrive policy a message is received at most
  ``UNREDRIVEN_RECEIVE_CAP`` times this way; after that it is left to its visibility
  timeout, in wall-clock time;
* ``SentTimestamp`` and ``ApproximateFirstReceiveTimestamp`` are the simulated instant at
  which the pump received the message (the emulator's are wall time);
* a FIFO queue is read one batch at a time, which keeps the order of every message group.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime
from typing import Any

from local.clock import SimulatedClock
from local.polling import Poller
from local.runtime import Log, Runtime
from local.specs import QueueMappingSpec
from local.template import REGION

UNREDRIVEN_RECEIVE_CAP = 5
RECEIVE_LIMIT = 10  # the most messages one ReceiveMessage returns
BATCH_REQUEST_LIMIT = 10  # the most entries of one DeleteMessageBatch


def _message_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """SQS message attributes the way Lambda spells them in an event."""
    converted = {}
    for name, value in attributes.items():
        entry: dict[str, Any] = {
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            entry["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        converted[name] = entry
    return converted


def sqs_record(message: Mapping[str, Any], queue_arn: str, received: datetime) -> dict[str, Any]:
    """A received message as Lambda hands it to a function."""
    millis = str(int(received.timestamp() * 1000))
    attributes = dict(message.get("Attributes") or {})
    attributes["SentTimestamp"] = millis
    attributes["ApproximateFirstReceiveTimestamp"] = millis
    attributes.setdefault("ApproximateReceiveCount", "1")
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": _message_attributes(message.get("MessageAttributes") or {}),
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _filter_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record as filters see it: a body that is a JSON document is matched as one."""
    view = dict(record)
    with contextlib.suppress(TypeError, ValueError):
        view["body"] = json.loads(record["body"])
    return view


def failed_message_ids(records: Sequence[Mapping[str, Any]], result: Any) -> set[str]:
    """The ids of the messages the function reported as failed; every id of the batch
    when the report is malformed, as in Lambda."""
    every = {str(record["messageId"]) for record in records}
    if not isinstance(result, Mapping):
        return set()
    failures = result.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return every
    failed = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not isinstance(identifier, str) or identifier not in every:
            return every
        failed.add(identifier)
    return failed


class QueuePump(Poller):
    def __init__(
        self,
        spec: QueueMappingSpec,
        runtime: Runtime,
        clock: SimulatedClock,
        client: Callable[[str], Any],
        log: Log,
        default_concurrency: int = 4,
        poll_interval: float = 0.2,
    ) -> None:
        super().__init__(f"queue {spec.logical_id}", log, poll_interval)
        self.spec = spec
        self.runtime = runtime
        self.clock = clock
        self._sqs = client("sqs")
        if spec.fifo:
            self.concurrency = 1
        else:
            self.concurrency = max(1, spec.maximum_concurrency or default_concurrency)
        self._executor = ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix=f"queue-{spec.logical_id}"
        )

    def stop(self) -> None:
        super().stop()
        self._executor.shutdown(wait=True, cancel_futures=True)

    # ------------------------------------------------------------------ polling

    def poll_once(self) -> int:
        """Deliver every message the queue holds, ``concurrency`` batches at a time, until
        a receive finds none and no batch is running."""
        if not self.spec.enabled:
            return 0
        handled = 0
        running: set[Future[int]] = set()
        while not self._stopping.is_set():
            while len(running) < self.concurrency:
                messages = self._receive()
                if not messages:
                    break
                running.add(self._executor.submit(self.deliver, messages))
            if not running:
                break
            # A finished batch may have sent messages, or made its failures visible again.
            done, running = wait(running, return_when=FIRST_COMPLETED)
            handled += sum(future.result() for future in done)
        return handled

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while len(messages) < self.spec.batch_size:
            received = self._sqs.receive_message(
                QueueUrl=self.spec.queue_url,
                MaxNumberOfMessages=min(RECEIVE_LIMIT, self.spec.batch_size - len(messages)),
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not received:
                break
            messages.extend(received)
        return messages

    def deliver(self, messages: list[dict[str, Any]]) -> int:
        """Invoke the function with one batch, then delete what succeeded and return the
        rest to the queue; how many messages were handled."""
        now = self.clock.now()
        records = [sqs_record(message, self.spec.queue_arn, now) for message in messages]
        if self.spec.filters:
            matching = [
                r for r in records if any(f.matches(_filter_view(r)) for f in self.spec.filters)
            ]
            kept = {r["messageId"] for r in matching}
            self._delete([r for r in records if r["messageId"] not in kept])
            records = matching
        if not records:
            return len(messages)
        invocation = self.runtime.invoke(self.spec.function, {"Records": records}, source="sqs")
        if not invocation.ok:
            failed = {str(record["messageId"]) for record in records}
        elif self.spec.report_batch_item_failures:
            failed = failed_message_ids(records, invocation.result)
        else:
            failed = set()
        self._delete([r for r in records if r["messageId"] not in failed])
        self._return([r for r in records if r["messageId"] in failed])
        return len(messages)

    def _delete(self, records: Sequence[Mapping[str, Any]]) -> None:
        for start in range(0, len(records), BATCH_REQUEST_LIMIT):
            chunk = records[start : start + BATCH_REQUEST_LIMIT]
            self._sqs.delete_message_batch(
                QueueUrl=self.spec.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": record["receiptHandle"]}
                    for index, record in enumerate(chunk)
                ],
            )

    def _return(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Make failed messages visible again, for the next receive (or the redrive)."""
        returned = []
        for record in records:
            receives = int(record["attributes"].get("ApproximateReceiveCount", "1"))
            if self.spec.max_receive_count is None and receives >= UNREDRIVEN_RECEIVE_CAP:
                self._log(
                    f"queue {self.spec.logical_id}: message {record['messageId']} failed "
                    f"{receives} receives and the queue has no redrive policy; it is left to "
                    "its visibility timeout"
                )
                continue
            returned.append(record)
        for start in range(0, len(returned), BATCH_REQUEST_LIMIT):
            chunk = returned[start : start + BATCH_REQUEST_LIMIT]
            self._sqs.change_message_visibility_batch(
                QueueUrl=self.spec.queue_url,
                Entries=[
                    {
                        "Id": str(index),
                        "ReceiptHandle": record["receiptHandle"],
                        "VisibilityTimeout": 0,
                    }
                    for index, record in enumerate(chunk)
                ],
            )
