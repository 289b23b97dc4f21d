"""Publish billing events to the EventBridge bus the lead distribution system listens to.

Events are sent in batches of ten (the PutEvents limit), one call per batch rather than
per lead. Every detail carries the event's ``event_id`` so that consumers can discard a
repeat: delivery is at-least-once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from datetime import date, datetime
from enum import Enum
from typing import Any

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


class EventBus:
    def __init__(self, client: Any, bus_name: str) -> None:
        self._client = client
        self._bus_name = bus_name

    def publish(self, events: Sequence[BillingEvent]) -> list[int]:
        """Send ``events``; return the positions of those EventBridge did not accept."""
        failed: list[int] = []
        for offset in range(0, len(events), MAX_ENTRIES):
            batch = events[offset : offset + MAX_ENTRIES]
            entries = [
                {
                    "Source": SOURCE,
                    "DetailType": type(event).__name__,
                    "Detail": json.dumps(event_detail(event)),
                    "EventBusName": self._bus_name,
                }
                for event in batch
            ]
            try:
                response = self._client.put_events(Entries=entries)
            except Exception:
                failed.extend(range(offset, offset + len(batch)))
                continue
            for position, result in enumerate(response.get("Entries", [])):
                if "ErrorCode" in result:
                    failed.append(offset + position)
        return failed
