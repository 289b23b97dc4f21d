"""Leads delivered by the lead distribution system: validate, settle, quarantine, announce.

One stream record is one delivered lead. A record that breaks the contract, names an
unknown contractor, or is too old to belong to a budget period is never charged: it is
quarantined with its reason, announced as ``LeadRejected``, and never blocks the records
after it. A transient storage failure fails the record, so the stream retries it.

A lead's fate is decided once (R2): a lead quarantined before stays refused when its
record comes again (the instant it was dated at has come, its account was opened since),
and a lead charged or rejected before keeps that outcome should a later record of it be
refused (a clock behind, a record written again broken). Either way the first outcome is
announced again, with the same event ids.

The leads of one account are settled one after another, in the order of the stream; the
leads of different accounts touch different items and are settled side by side, up to
``CONCURRENT_ACCOUNTS`` at a time. A charge is one round trip that mostly waits on
DynamoDB, so a batch of leads for many accounts takes a fraction of the time it would one
lead at a time (``bench/RESULTS.md``, lead throughput). What the batch counts and answers
is done afterwards, in the batch's order, by Powertools' batch processor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from functions.adapters.event_bus import EventBus
from functions.adapters.lead_charges import LeadCharges, replay
from functions.adapters.quarantine import (
    Quarantine,
    Quarantined,
    SettledBefore,
    lead_quarantine_id,
    usable_id,
)
from functions.billing.decision import check_delivery_time
from functions.billing.errors import AccountNotFound
from functions.billing.events import BillingEvent, LeadCharged, LeadRejected, RejectReason
from functions.billing.leads import InvalidLead, parse_lead

logger = Logger(child=True)

# Accounts whose leads are settled at the same time within one invocation.
CONCURRENT_ACCOUNTS = 8


@dataclass
class RecordResult:
    sequence_number: str
    events: list[BillingEvent] = field(default_factory=list)
    quarantined: Quarantined | None = None
    duplicate: bool = False


class LeadIntake:
    def __init__(
        self,
        charges: LeadCharges,
        quarantine: Quarantine,
        bus: EventBus,
        metrics: Metrics,
        clock: Callable[[], datetime],
    ) -> None:
        self._charges = charges
        self._quarantine = quarantine
        self._bus = bus
        self._metrics = metrics
        self._clock = clock
        self._pool: ThreadPoolExecutor | None = None

    def process(self, records: list[dict[str, Any]], context: Any) -> dict[str, Any]:
        """Settle a batch of stream records, then announce what happened in one go.

        Answers the partial batch response: the records that failed, whether settling or
        announcing them, so that the stream retries from the first of them.
        """
        outcome_of = self._settle_by_account(records)

        def counted(record: DynamoDBRecord) -> RecordResult:
            outcome = outcome_of[id(record.raw_event)]
            if isinstance(outcome, BaseException):
                raise outcome
            self._count(outcome)
            return outcome

        processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
        with processor(records=records, handler=counted, lambda_context=context):
            outcomes = processor.process()
        failures = list(processor.response()["batchItemFailures"])
        reported = {failure["itemIdentifier"] for failure in failures}
        settled = [result for status, result, _ in outcomes if status == "success"]
        failures += [
            {"itemIdentifier": sequence}
            for sequence in self.announce(settled)
            if sequence not in reported
        ]
        return {"batchItemFailures": failures}

    def _settle_by_account(
        self, records: list[dict[str, Any]]
    ) -> dict[int, RecordResult | BaseException]:
        """Each record's outcome (or the error that failed it), by the record's identity:
        the records of one account in order, different accounts at the same time."""
        queues: dict[object, list[dict[str, Any]]] = {}
        for record in records:
            queues.setdefault(_account_of(record), []).append(record)
        outcomes: dict[int, RecordResult | BaseException] = {}

        def settle_in_order(queue: list[dict[str, Any]]) -> None:
            for record in queue:
                try:
                    outcomes[id(record)] = self.settle(DynamoDBRecord(record))
                except Exception as error:
                    outcomes[id(record)] = error

        if len(queues) == 1:
            settle_in_order(records)
            return outcomes
        if self._pool is None:
            self._pool = ThreadPoolExecutor(CONCURRENT_ACCOUNTS, thread_name_prefix="settle")
        for done in [self._pool.submit(settle_in_order, queue) for queue in queues.values()]:
            done.result()
        return outcomes

    def settle(self, record: DynamoDBRecord) -> RecordResult:
        """Settle one stream record; what it settled is counted by ``process``."""
        sequence_number = record.dynamodb.sequence_number if record.dynamodb else None
        if sequence_number is None:
            raise ValueError(f"stream record {record.event_id} has no sequence number")
        image: dict[str, Any] = (record.dynamodb.new_image if record.dynamodb else None) or {}
        now = self._clock()
        result = RecordResult(sequence_number)
        try:
            lead = parse_lead(image)
            check_delivery_time(lead, now)
            settlement = self._charges.settle(lead, now)
        except InvalidLead as error:
            refused = self._quarantined(record, image, RejectReason.INVALID, str(error))
        except AccountNotFound as error:
            refused = self._quarantined(record, image, RejectReason.UNKNOWN_CONTRACTOR, str(error))
        else:
            result.events.extend(settlement.events)
            result.duplicate = settlement.duplicate
            # Quarantined by an earlier delivery: notified again (at least once).
            result.quarantined = settlement.quarantined
            return result

        kept = self._quarantine.keep(refused, now)
        if isinstance(kept, SettledBefore):
            # Charged or rejected by an earlier delivery: that outcome stands (R2).
            logger.warning(
                "refused record of a lead settled before",
                extra={"lead_id": refused.lead_id, "reason": refused.reason},
            )
            result.events.extend(replay(kept.entry).events)
            result.duplicate = True
            return result
        result.quarantined = kept
        logger.warning(
            "lead quarantined",
            extra={
                "quarantine_id": kept.quarantine_id,
                "reason": kept.reason,
                "detail": kept.detail,
            },
        )
        if kept.lead_id is not None:
            result.events.append(
                LeadRejected(
                    kept.contractor_id, kept.lead_id, RejectReason(kept.reason), kept.detail
                )
            )
        return result

    def announce(self, results: Sequence[RecordResult]) -> list[str]:
        """Publish the batch's events and quarantine notices in as few calls as possible.

        Returns the sequence numbers of the records whose announcement failed, so that the
        stream delivers them again; settling them again is a no-op that announces again.
        """
        owners = [result for result in results for _ in result.events]
        failed = {
            owners[position].sequence_number
            for position in self._bus.publish(
                [event for result in results for event in result.events]
            )
        }
        quarantined = [result.quarantined for result in results if result.quarantined]
        if quarantined:
            try:
                self._quarantine.notify(quarantined)
            except Exception:
                logger.exception("quarantine queue unavailable")
                failed |= {result.sequence_number for result in results if result.quarantined}
        return sorted(failed, key=int)

    def _quarantined(
        self, record: DynamoDBRecord, image: dict[str, Any], reason: RejectReason, detail: str
    ) -> Quarantined:
        lead_id = image.get("lead_id")
        contractor_id = image.get("contractor_id")
        usable_lead_id = usable_id(lead_id)
        return Quarantined(
            quarantine_id=(
                lead_quarantine_id(usable_lead_id)
                if usable_lead_id
                else f"record#{record.event_id}"
            ),
            reason=reason.value,
            detail=detail,
            payload={"event_id": record.event_id, "new_image": image},
            lead_id=usable_lead_id,
            contractor_id=contractor_id if isinstance(contractor_id, str) else None,
        )

    def _count(self, result: RecordResult) -> None:
        if result.duplicate:
            self._metrics.add_metric("LeadDuplicate", MetricUnit.Count, 1)
            return
        if result.quarantined is not None:
            self._metrics.add_metric("LeadQuarantined", MetricUnit.Count, 1)
            return
        for event in result.events:
            if isinstance(event, LeadCharged):
                self._metrics.add_metric("LeadCharged", MetricUnit.Count, 1)
                self._metrics.add_metric("ChargedCents", MetricUnit.Count, event.amount.cents)
            elif isinstance(event, LeadRejected):
                self._metrics.add_metric("LeadRejected", MetricUnit.Count, 1)


def _account_of(record: dict[str, Any]) -> object:
    """The account a stream record names, for settling its leads in order; a record that
    names none stands alone."""
    image = (record.get("dynamodb") or {}).get("NewImage") or {}
    contractor = image.get("contractor_id")
    if isinstance(contractor, dict) and isinstance(contractor.get("S"), str):
        return contractor["S"]
    return id(record)
