"""Putting the events the bus refused on the bus again.

``functions.adapters.event_bus`` keeps each entry EventBridge refused on the unpublished
events queue: the message's body is the PutEvents entry as JSON. This function receives
those messages and puts each entry on the billing bus again, unchanged but for the bus it
names (always the one this function is configured with). A refused entry fails its
message: SQS delivers it again once its visibility timeout has passed, and moves it to the
queue's dead-letter queue (alarmed) after its last receive. An entry the bus took twice
(a message delivered twice, or a publish whose answer was lost) carries the same
``event_id`` both times, which consumers deduplicate on.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from functions.adapters.event_bus import SOURCE, EventBus, entry_event_id

logger = Logger(child=True)

# The keys of a PutEvents entry the event bus adapter writes.
_ENTRY_KEYS = frozenset({"Source", "DetailType", "Detail", "EventBusName"})


class UnreadableMessage(ValueError):
    """A message whose body is not an entry the billing kept: retried, then dead-lettered."""


class NotRepublished(RuntimeError):
    """The bus refused the entry again: its message is delivered again later."""


def kept_entry(body: str, bus_name: str) -> dict[str, Any]:
    """The PutEvents entry a message holds, addressed to ``bus_name``."""
    try:
        entry = json.loads(body)
    except ValueError as error:
        raise UnreadableMessage("the body is not JSON") from error
    if not isinstance(entry, dict) or set(entry) != _ENTRY_KEYS:
        raise UnreadableMessage("the body is not a PutEvents entry of the billing")
    if entry["Source"] != SOURCE or not all(isinstance(value, str) for value in entry.values()):
        raise UnreadableMessage("the body is not a PutEvents entry of the billing")
    try:
        entry_event_id(entry)
    except (ValueError, KeyError, TypeError) as error:
        raise UnreadableMessage("the entry's detail has no event_id") from error
    return {**entry, "EventBusName": bus_name}


class Republisher:
    def __init__(self, bus: EventBus, metrics: Metrics) -> None:
        self._bus = bus
        self._metrics = metrics

    def record(self, record: SQSRecord) -> None:
        """Put the message's entry on the bus; raise when the bus refuses it."""
        entry = kept_entry(record.body, self._bus.name)
        event_id = entry_event_id(entry)
        if self._bus.put_entries([entry]):
            logger.warning(
                "event refused again",
                extra={
                    "event_id": event_id,
                    "receives": record.attributes.approximate_receive_count,
                },
            )
            raise NotRepublished(event_id)
        logger.info("event republished", extra={"event_id": event_id})
        self._metrics.add_metric("EventsRepublished", MetricUnit.Count, 1)
