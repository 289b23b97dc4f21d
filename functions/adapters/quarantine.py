"""Quarantine: input the billing cannot charge, kept with its reason for an operator.

Each record is written to the quarantine table, keyed by the lead id (or the stream
record's id when the lead id itself is unusable), so a redelivered record is kept once,
and sent to the quarantine queue, whose alarm tells an operator to look.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.exceptions import PutError

from functions.adapters.accounts import instant
from functions.adapters.models import QuarantineModel
from functions.billing.errors import StorageUnavailable

MAX_MESSAGES = 10


@dataclass(frozen=True, slots=True)
class Quarantined:
    quarantine_id: str
    reason: str
    detail: str
    payload: dict[str, Any]
    lead_id: str | None = None
    contractor_id: str | None = None


class Quarantine:
    def __init__(self, sqs_client: Any, queue_url: str, source: str) -> None:
        self._sqs = sqs_client
        self._queue_url = queue_url
        self._source = source

    def keep(self, record: Quarantined, now: datetime) -> None:
        item = QuarantineModel(
            record.quarantine_id,
            reason=record.reason,
            detail=record.detail,
            source=self._source,
            payload=json.dumps(record.payload, default=str, sort_keys=True),
            received_at=instant(now),
            lead_id=record.lead_id,
            contractor_id=record.contractor_id,
        )
        try:
            item.save(condition=QuarantineModel.quarantine_id.does_not_exist())
        except PutError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise StorageUnavailable(str(error)) from error

    def notify(self, records: Sequence[Quarantined]) -> None:
        """Send the records to the quarantine queue, ten per call."""
        for offset in range(0, len(records), MAX_MESSAGES):
            batch = records[offset : offset + MAX_MESSAGES]
            response = self._sqs.send_message_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {
                        "Id": str(position),
                        "MessageBody": json.dumps(
                            {
                                "quarantine_id": record.quarantine_id,
                                "reason": record.reason,
                                "detail": record.detail,
                                "source": self._source,
                                "payload": record.payload,
                            },
                            default=str,
                            sort_keys=True,
                        ),
                    }
                    for position, record in enumerate(batch)
                ],
            )
            if response.get("Failed"):
                raise StorageUnavailable(f"quarantine queue refused {response['Failed']}")
