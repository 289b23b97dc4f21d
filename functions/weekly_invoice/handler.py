"""weekly_invoice: the Friday schedules, their work queue and the threshold trigger (R3..R6)."""

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
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters import clock
from functions.adapters.accounts import AccountStore
from functions.adapters.documents import InvoiceDocuments
from functions.adapters.event_bus import billing_bus
from functions.adapters.invoicing import InvoiceStore
from functions.adapters.mailer import SesMailer
from functions.adapters.models import connect
from functions.adapters.pacing import request_pacer
from functions.adapters.payment_provider import payments_from_secret
from functions.adapters.settings import WeeklyInvoiceSettings
from functions.billing.invoices import Invoice
from functions.usecases.collection import Collection
from functions.weekly_invoice.billing_run import BillingRun, WeeklyWork

settings = WeeklyInvoiceSettings.from_env()
connect(settings.table_names())
logger = Logger()
# botocore carries every AWS request, PynamoDB's included; Stripe's are traced once it loads.
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()


payments = payments_from_secret(settings.stripe_secret_name, settings.stripe_request_interval)
# The work queue's environments share the Friday's part of Stripe's rate limit: each paces
# its requests, and returns only once its last request's interval has passed
# (``functions.adapters.pacing``).
stripe_turns = request_pacer(settings.stripe_request_interval)


invoices = InvoiceStore()
run = BillingRun(
    invoices=invoices,
    accounts=AccountStore(),
    collection=Collection(
        invoices,
        payments,
        SesMailer(boto3.client("sesv2"), settings.email_sender, settings.email_configuration_set),
        billing_bus(settings.event_bus_name, settings.unpublished_events_queue_url),
        InvoiceDocuments(boto3.client("s3"), settings.documents_bucket),
    ),
    sqs=boto3.client("sqs"),
    queue_url=settings.invoice_queue_url,
)


def weekly_record(record: SQSRecord) -> None:
    _count(run.weekly(WeeklyWork.parse(record.body), clock.now()))


def threshold_record(record: DynamoDBRecord) -> None:
    image = (record.dynamodb.new_image if record.dynamodb else None) or {}
    sequence = int(image.get("invoice_sequence", 0))
    _count(run.threshold(str(image["contractor_id"]), sequence, clock.now()))


def _count(invoice: Invoice | None) -> None:
    if invoice is None:
        metrics.add_metric("NothingToInvoice", MetricUnit.Count, 1)
        return
    metrics.add_metric(
        f"Invoice{invoice.status.value.title().replace('_', '')}", MetricUnit.Count, 1
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("run") == "weekly":
        queued = run.fan_out(str(event["timezone"]), clock.now())
        metrics.add_metric("WeeklyAccountsQueued", MetricUnit.Count, queued)
        return {"queued": queued}
    if event.get("Records") == []:
        return {"batchItemFailures": []}
    source = (event.get("Records") or [{}])[0].get("eventSource")
    try:
        if source == "aws:sqs":
            processor = BatchProcessor(event_type=EventType.SQS)
            return dict(process_partial_response(event, weekly_record, processor, context))
        if source == "aws:dynamodb":
            processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
            return dict(process_partial_response(event, threshold_record, processor, context))
    finally:
        stripe_turns.rest()
    raise ValueError(f"weekly_invoice cannot handle this event: {sorted(event)}")
