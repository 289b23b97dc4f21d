"""DynamoDB stream event source mappings, run the way Lambda runs them.

For each mapping a pump thread polls the table's stream, keeps the records its filters
match, hands them to the function in batches of at most ``BatchSize`` and, when a batch
fails:

* with ``ReportBatchItemFailures``, retries from the lowest failed sequence number (the
  records after it are sent again too, as Lambda does);
* when the invocation itself fails, retries the whole batch, split in two first when
  ``BisectBatchOnFunctionError`` is set;
* once ``MaximumRetryAttempts`` retries are spent, sends a description of the batch to
  the on-failure destination (SQS) and moves on.

Every retry counts against ``MaximumRetryAttempts``, bisected halves included. A mapping
that retries forever in AWS (-1) retries ``INFINITE_RETRY_CAP`` times here, so that a
failing function cannot stall the local stack.

Tables are created empty when the local stack starts, so a mapping reads its stream from
the start whatever its ``StartingPosition``. Records are matched against the filters when
they are read, and ``ApproximateCreationDateTime`` is the simulated instant of that read.

Moto quirk: after a cancelled transaction an open shard iterator can go stale, so each
poll asks for a fresh ``AFTER_SEQUENCE_NUMBER`` iterator from the last sequence number
handled on the shard.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from local.clock import SimulatedClock
from local.polling import Poller
from local.runtime import Invocation, Log, Runtime
from local.specs import StreamMappingSpec
from local.template import REGION

INFINITE_RETRY_CAP = 5
GET_RECORDS_LIMIT = 1000


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.timestamp()
    return value


def lambda_record(record: Mapping[str, Any], stream_arn: str, created: datetime) -> dict[str, Any]:
    """A stream record as Lambda hands it to a function. ``ApproximateCreationDateTime``
    is the simulated instant at which the record was read (the emulator's is wall time)."""
    dynamodb = _jsonable(dict(record["dynamodb"]))
    dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    return {
        "eventID": record.get("eventID") or uuid.uuid4().hex,
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", REGION),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }


def first_failure(records: Sequence[Mapping[str, Any]], result: Any) -> int | None:
    """Index of the lowest record the function reported as failed, or None when the batch
    succeeded. A malformed report fails the whole batch, as in Lambda."""
    if result is None:
        return None
    if not isinstance(result, Mapping):
        return None
    failures = result.get("batchItemFailures")
    if failures is None:
        return None
    if not isinstance(failures, list):
        return 0
    if not failures:
        return None
    positions = {r["dynamodb"]["SequenceNumber"]: i for i, r in enumerate(records)}
    indexes = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if identifier not in positions:
            return 0
        indexes.append(positions[identifier])
    return min(indexes)


class Batch:
    def __init__(self, records: list[dict[str, Any]], retries: int) -> None:
        self.records = records
        self.retries = retries


class StreamPump(Poller):
    def __init__(
        self,
        spec: StreamMappingSpec,
        function_arn: str,
        runtime: Runtime,
        clock: SimulatedClock,
        client: Callable[[str], Any],
        log: Log,
        poll_interval: float = 0.2,
    ) -> None:
        super().__init__(f"stream {spec.logical_id}", log, poll_interval)
        self.spec = spec
        self.function_arn = function_arn
        self.runtime = runtime
        self.clock = clock
        self._streams = client("dynamodbstreams")
        self._sqs = client("sqs")
        self._positions: dict[str, str] = {}
        self.failed_batches: list[dict[str, Any]] = []

    @property
    def max_retries(self) -> int:
        retries = self.spec.maximum_retry_attempts
        return INFINITE_RETRY_CAP if retries < 0 else retries

    # ------------------------------------------------------------------ polling

    def poll_once(self) -> int:
        """Read every new record of every shard and deliver the matching ones."""
        if not self.spec.enabled:
            return 0
        description = self._streams.describe_stream(StreamArn=self.spec.stream_arn)
        handled = 0
        for shard in description["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            while not self._stopping.is_set():
                records = self._read(shard_id)
                if not records:
                    break
                self._handle(shard_id, records)
                self._positions[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
                handled += len(records)
        return handled

    def _read(self, shard_id: str) -> list[dict[str, Any]]:
        last = self._positions.get(shard_id)
        if last is None:
            iterator = self._streams.get_shard_iterator(
                StreamArn=self.spec.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
        else:
            iterator = self._streams.get_shard_iterator(
                StreamArn=self.spec.stream_arn,
                ShardId=shard_id,
                ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                SequenceNumber=last,
            )["ShardIterator"]
        records: list[dict[str, Any]] = self._streams.get_records(
            ShardIterator=iterator, Limit=GET_RECORDS_LIMIT
        )["Records"]
        return records

    def _handle(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        now = self.clock.now()
        events = [lambda_record(r, self.spec.stream_arn, now) for r in records]
        if self.spec.filters:
            events = [e for e in events if any(f.matches(e) for f in self.spec.filters)]
        size = max(1, self.spec.batch_size)
        for start in range(0, len(events), size):
            self.deliver(shard_id, events[start : start + size])

    def deliver(self, shard_id: str, records: list[dict[str, Any]]) -> None:
        pending: deque[Batch] = deque([Batch(records, 0)])
        while pending and not self._stopping.is_set():
            batch = pending.popleft()
            invocation = self.runtime.invoke(
                self.spec.function, {"Records": batch.records}, source="stream"
            )
            if invocation.ok:
                index = (
                    first_failure(batch.records, invocation.result)
                    if self.spec.report_batch_item_failures
                    else None
                )
                if index is None:
                    continue
                remaining = batch.records[index:]
            else:
                remaining = batch.records
            if batch.retries >= self.max_retries:
                self._give_up(shard_id, remaining, invocation, batch.retries + 1)
                continue
            if not invocation.ok and self.spec.bisect_on_error and len(remaining) > 1:
                middle = len(remaining) // 2
                pending.appendleft(Batch(remaining[middle:], batch.retries + 1))
                pending.appendleft(Batch(remaining[:middle], batch.retries + 1))
            else:
                pending.appendleft(Batch(remaining, batch.retries + 1))

    def _give_up(
        self, shard_id: str, records: list[dict[str, Any]], invocation: Invocation, attempts: int
    ) -> None:
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if not invocation.ok:
            response["functionError"] = "Unhandled"
        message = {
            "requestContext": {
                "requestId": invocation.request_id,
                "functionArn": self.function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": response,
            "version": "1.0",
            "timestamp": self.clock.now()
            .astimezone(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(first["ApproximateCreationDateTime"]),
                "approximateArrivalOfLastRecord": _iso(last["ApproximateCreationDateTime"]),
                "batchSize": len(records),
                "streamArn": self.spec.stream_arn,
            },
        }
        self.failed_batches.append(message)
        destination = self.spec.on_failure_arn
        self._log(
            f"stream {self.spec.logical_id}: {len(records)} record(s) "
            f"{first['SequenceNumber']}..{last['SequenceNumber']} failed after {attempts} "
            f"attempt(s); {'sent to ' + destination if destination else 'discarded'}"
        )
        if destination:
            name = destination.rsplit(":", 1)[-1]
            url = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
            self._sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
