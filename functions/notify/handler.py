"""notify: announces the pauses and the budget reactivations that the accounts stream shows
(R12), and emails the pauses, reactivations and budget warnings it shows (R14), each once."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters import clock
from functions.adapters.event_bus import billing_bus
from functions.adapters.mailer import SesMailer
from functions.adapters.models import connect
from functions.adapters.notices import NoticeStore, Notifier
from functions.adapters.settings import NotifySettings
from functions.notify.account_changes import InvalidRecord, notify

settings = NotifySettings.from_env()
connect(settings.table_names())
logger = Logger()
# botocore carries every AWS request, PynamoDB's included; Stripe's are traced once it loads.
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()

notifier = Notifier(
    NoticeStore(),
    SesMailer(boto3.client("sesv2"), settings.email_sender, settings.email_configuration_set),
)
bus = billing_bus(settings.event_bus_name, settings.unpublished_events_queue_url)
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(record: DynamoDBRecord) -> None:
    try:
        sent = notify(record.raw_event, notifier, bus, clock.now())
    except InvalidRecord as error:
        # Not an account the billing wrote: retrying cannot help. Logged with the record's
        # keys and counted (an alarm watches the metric); the item stays in the table.
        logger.error(
            "account change not readable",
            extra={"reason": str(error), "keys": record.raw_event.get("dynamodb", {}).get("Keys")},
        )
        metrics.add_metric("UnreadableAccountChanges", MetricUnit.Count, 1)
        return
    if sent:
        metrics.add_metric("NoticesSent", MetricUnit.Count, sent)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(process_partial_response(event, record_handler, processor, context))
