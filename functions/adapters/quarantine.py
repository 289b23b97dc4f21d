"""Quarantine: input the billing cannot charge, kept with its reason for an operator.

Each record is written to the quarantine table, keyed by the lead id (or the stream
record's id when the lead id itself is unusable), so a redelivered record is kept once,
and sent to the quarantine queue, whose alarm tells an operator to look.

R2: a quarantined lead's item is also the decision that the lead is never charged. The
charge's transaction requires that no quarantine item holds the lead (``lead_charges``),
and the quarantine's own write requires that the lead has no outcome in the ledger yet:
DynamoDB serializes the two transactions, so a lead is either charged (or rejected in the
ledger) or quarantined, once, whatever the order and number of its deliveries.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from functions.adapters.accounts import CONDITION_FAILED, RETRYABLE_CANCELLATIONS, instant
from functions.adapters.models import LedgerEntryModel, QuarantineModel, transact_write
from functions.billing.errors import StorageUnavailable
from functions.billing.leads import MAX_ID_LENGTH

MAX_MESSAGES = 10
MAX_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class Quarantined:
    quarantine_id: str
    reason: str
    detail: str
    payload: dict[str, Any]
    lead_id: str | None = None
    contractor_id: str | None = None


@dataclass(frozen=True, slots=True)
class SettledBefore:
    """A record ``keep`` did not quarantine: its lead has an outcome in the ledger already
    (charged, or rejected for its budget or a pause), which stands. ``entry``: that ledger
    entry, as DynamoDB returned it."""

    entry: dict[str, Any]


def lead_quarantine_id(lead_id: str) -> str:
    """The key of a lead's quarantine item: the lead id alone, as the Leads table's key."""
    return f"lead#{lead_id}"


def lead_entry_id(lead_id: str) -> str:
    """The key of a lead's outcome in its account's ledger (charged or rejected), which
    excludes a quarantine of the lead and the other way round."""
    return f"lead#{lead_id}"


def usable_id(value: object) -> str | None:
    """``value`` when it can be a lead's or a contractor's id (``billing.leads``): only
    such an id can name a lead that was charged."""
    if isinstance(value, str) and value.strip() and len(value) <= MAX_ID_LENGTH:
        return value
    return None


def quarantined_from_raw(raw: dict[str, Any]) -> Quarantined:
    """The record a quarantine item holds, from DynamoDB's raw item."""
    item = QuarantineModel.from_raw_data(raw)
    return Quarantined(
        quarantine_id=item.quarantine_id,
        reason=item.reason,
        detail=item.detail,
        payload=json.loads(item.payload),
        lead_id=item.lead_id,
        contractor_id=item.contractor_id,
    )


def check_returning_item(
    transaction: TransactWrite,
    model: type[Model],
    hash_key: str,
    range_key: str | None = None,
    *,
    condition: Condition,
) -> None:
    """A ConditionCheck whose cancellation reason carries the item as it is (``ALL_OLD``),
    which PynamoDB's ``condition_check`` cannot ask for."""
    kwargs = model._get_connection().get_operation_kwargs(
        *model._serialize_keys(hash_key, range_key),
        condition=condition,
        return_values_on_condition_failure="ALL_OLD",
    )
    transaction._condition_check_items.append(kwargs)


class Quarantine:
    def __init__(
        self,
        sqs_client: Any,
        queue_url: str,
        source: str,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._sqs = sqs_client
        self._queue_url = queue_url
        self._source = source
        self._sleep = sleep
        self._jitter = jitter

    def keep(self, record: Quarantined, now: datetime) -> Quarantined | SettledBefore:
        """Keep ``record``, once: the record as the quarantine holds it (the first
        delivery's, when it was kept before), or ``SettledBefore`` when its lead has an
        outcome in the ledger, which then stands (the record is not kept)."""
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
        contractor_id = usable_id(record.contractor_id)
        # Only a lead with a usable id and contractor can have been charged.
        settled_key = (
            (contractor_id, lead_entry_id(record.lead_id))
            if contractor_id is not None and record.lead_id is not None
            else None
        )
        for attempt in range(MAX_ATTEMPTS):
            try:
                with transact_write() as transaction:
                    if settled_key is not None:
                        check_returning_item(
                            transaction,
                            LedgerEntryModel,
                            *settled_key,
                            condition=LedgerEntryModel.entry_id.does_not_exist(),
                        )
                    transaction.save(
                        item,
                        condition=QuarantineModel.quarantine_id.does_not_exist(),
                        return_values="ALL_OLD",
                    )
                return record
            except TransactWriteError as error:
                reasons = error.cancellation_reasons
                if error.cause_response_code != "TransactionCanceledException" or not reasons:
                    raise StorageUnavailable(str(error)) from error
                if settled_key is not None:
                    entry, reasons = reasons[0], reasons[1:]
                    if entry is not None and entry.code == CONDITION_FAILED:
                        return SettledBefore(entry.raw_item or {})
                [kept] = reasons
                if kept is not None and kept.code == CONDITION_FAILED:
                    return quarantined_from_raw(kept.raw_item) if kept.raw_item else record
                codes = {reason.code for reason in error.cancellation_reasons if reason}
                if codes and codes <= RETRYABLE_CANCELLATIONS:
                    self._sleep(min(0.02 * 2**attempt, 0.5) * (0.5 + self._jitter()))
                    continue
                raise StorageUnavailable(f"transaction cancelled: {sorted(codes)}") from error
        raise StorageUnavailable(f"{record.quarantine_id}: not kept after {MAX_ATTEMPTS} tries")

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
