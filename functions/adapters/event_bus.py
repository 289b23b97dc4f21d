"""Publish billing events to the EventBridge bus the lead distribution system listens to.

Events are sent in batches of ten (the PutEvents limit), one call per batch rather than
per lead. Every detail carries the event's ``event_id`` so that consumers can discard a
repeat: delivery is at-least-once.

Entries the bus refuses (an ``ErrorCode`` in its answer, or the whole call throttled or
failing on EventBridge's side once botocore's retries are spent) are kept on the
unpublished events queue (``UnpublishedEvents``), each message holding the PutEvents entry
as JSON; the republish function (``functions/republish/``) puts them on the bus again.
Only what neither the bus nor that queue took is reported as refused: the caller then fails
its input, whose retry announces it again. A state saved before a publish therefore never
waits for a retry that cannot tell what it should announce.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from datetime import date, datetime
from enum import Enum
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from functions.billing.events import BillingEvent
from functions.billing.money import Money

SOURCE = "lead-billing"
MAX_ENTRIES = 10


def event_detail(event: BillingEvent) -> dict[str, Any]:
    """The JSON detail of an event: amounts in integer cents (``<name>_cents``, null when
    an optional amount is absent), instants and days in ISO 8601."""
    detail: dict[str, Any] = {"event_id": event.event_id}
    for item in fields(event):
        value = getattr(event, item.name)
        if isinstance(value, Money):
            detail[f"{item.name}_cents"] = value.cents
        elif value is None and "Money" in str(item.type):
            detail[f"{item.name}_cents"] = None
        elif isinstance(value, (datetime, date)):
            detail[item.name] = value.isoformat()
        elif isinstance(value, tuple):
            detail[item.name] = list(value)
        elif isinstance(value, Enum):
            detail[item.name] = value.value
        else:
            detail[item.name] = value
    return detail


# Whole PutEvents calls that fail this way are EventBridge's to retry later, not the
# request's fault: their entries are kept for the republish function. Other client errors
# (a malformed request, access denied) are reported as refused: the caller's input fails.
_TRANSIENT_ERROR_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "InternalException",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)
EVENT_ID_ATTRIBUTE = "event_id"


def _transient(error: Exception) -> bool:
    """A PutEvents call that failed as a whole, once botocore's retries were spent, for a
    reason the bus may not have tomorrow: throttling, a 5xx, no answer at all."""
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = error.response.get("Error", {}).get("Code", "")
        return code in _TRANSIENT_ERROR_CODES or int(status or 0) >= 500
    return isinstance(error, BotoCoreError)


def entry_event_id(entry: dict[str, Any]) -> str:
    """The ``event_id`` of a PutEvents entry's detail."""
    return str(json.loads(entry["Detail"])["event_id"])


class UnpublishedEvents:
    """The SQS queue of the entries the bus refused (``SendMessageBatch``, ten at a time):
    each message's body is the PutEvents entry as JSON, its ``event_id`` message attribute
    the event's id."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def keep(self, entries: Sequence[dict[str, Any]]) -> list[int]:
        """Send ``entries``; return the positions of those the queue did not take."""
        lost: list[int] = []
        for offset in range(0, len(entries), MAX_ENTRIES):
            batch = entries[offset : offset + MAX_ENTRIES]
            messages = [
                {
                    "Id": str(position),
                    "MessageBody": json.dumps(entry),
                    "MessageAttributes": {
                        EVENT_ID_ATTRIBUTE: {
                            "DataType": "String",
                            "StringValue": entry_event_id(entry),
                        }
                    },
                }
                for position, entry in enumerate(batch)
            ]
            try:
                response = self._client.send_message_batch(
                    QueueUrl=self._queue_url, Entries=messages
                )
            except Exception:
                lost.extend(range(offset, offset + len(batch)))
                continue
            lost.extend(offset + int(failed["Id"]) for failed in response.get("Failed", []))
        return sorted(lost)


class EventBus:
    def __init__(
        self, client: Any, bus_name: str, unpublished: UnpublishedEvents | None = None
    ) -> None:
        """``unpublished``: where entries the bus refuses are kept; without it they are
        reported as refused (the republish function's own bus)."""
        self._client = client
        self._bus_name = bus_name
        self._unpublished = unpublished

    @property
    def name(self) -> str:
        """The name of the bus the entries are put on."""
        return self._bus_name

    def entry(self, event: BillingEvent) -> dict[str, Any]:
        """The PutEvents entry of an event."""
        return {
            "Source": SOURCE,
            "DetailType": type(event).__name__,
            "Detail": json.dumps(event_detail(event)),
            "EventBusName": self._bus_name,
        }

    def publish(self, events: Sequence[BillingEvent]) -> list[int]:
        """Send ``events``; return the positions of those neither EventBridge nor the
        unpublished events queue accepted."""
        entries = [self.entry(event) for event in events]
        refused, transient = self._put(entries)
        if self._unpublished is None:
            return refused
        kept = [position for position in refused if position in transient]
        lost = {kept[index] for index in self._unpublished.keep([entries[p] for p in kept])}
        return [position for position in refused if position not in transient or position in lost]

    def put_entries(self, entries: Sequence[dict[str, Any]]) -> list[int]:
        """Send PutEvents entries as they are; return the positions EventBridge refused."""
        return self._put(entries)[0]

    def _put(self, entries: Sequence[dict[str, Any]]) -> tuple[list[int], set[int]]:
        """The positions refused, and those of them refused for a reason the bus may not
        have later (every entry it answered with an error, every entry of a throttled or
        failed call)."""
        refused: list[int] = []
        transient: set[int] = set()
        for offset in range(0, len(entries), MAX_ENTRIES):
            batch = list(entries[offset : offset + MAX_ENTRIES])
            positions = range(offset, offset + len(batch))
            try:
                response = self._client.put_events(Entries=batch)
            except Exception as error:
                refused.extend(positions)
                if _transient(error):
                    transient.update(positions)
                continue
            for position, result in enumerate(response.get("Entries", [])):
                if "ErrorCode" in result:
                    refused.append(offset + position)
                    transient.add(offset + position)
        return refused, transient


def billing_bus(bus_name: str, unpublished_events_queue_url: str) -> EventBus:
    """The bus a function publishes to, keeping what it refuses on the unpublished events
    queue, through clients of boto3's default session."""
    return EventBus(
        boto3.client("events"),
        bus_name,
        UnpublishedEvents(boto3.client("sqs"), unpublished_events_queue_url),
    )
