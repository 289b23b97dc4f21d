"""reconcile: the daily reconciliation of the ledger's payments with Stripe's, which first
resolves the payment attempts whose answer never came (R5, R6)."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters import clock
from functions.adapters.accounts import AccountStore
from functions.adapters.documents import InvoiceDocuments
from functions.adapters.event_bus import billing_bus
from functions.adapters.invoicing import InvoiceStore
from functions.adapters.ledger import PaymentLedger
from functions.adapters.mailer import SesMailer
from functions.adapters.models import connect
from functions.adapters.payment_provider import (
    payments_from_secret,
    processor_records_from_secret,
)
from functions.adapters.settings import ReconcileSettings
from functions.billing.reconciliation import DifferenceKind
from functions.reconcile.reconcile_run import ReconcileOutcome, ReconcileRun, parse_run
from functions.usecases.collection import Collection

settings = ReconcileSettings.from_env()
connect(settings.table_names())
logger = Logger()
# botocore carries every AWS request, PynamoDB's included; Stripe's are traced once it loads.
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()

bus = billing_bus(settings.event_bus_name, settings.unpublished_events_queue_url)
invoices = InvoiceStore()
run = ReconcileRun(
    invoices=invoices,
    accounts=AccountStore(),
    # An attempt resolved here may be the invoice's first: its email has not gone out (R5).
    collection=Collection(
        invoices,
        payments_from_secret(settings.stripe_secret_name),
        SesMailer(boto3.client("sesv2"), settings.email_sender, settings.email_configuration_set),
        bus,
        InvoiceDocuments(boto3.client("s3"), settings.documents_bucket),
    ),
    ledger=PaymentLedger(),
    records=processor_records_from_secret(settings.stripe_secret_name),
    bus=bus,
)


def count(outcome: ReconcileOutcome) -> None:
    """One ``ReconciliationDifferences`` figure per kind, zero included, so that an alarm on
    any kind sees every day; and the run's other figures."""
    for kind in DifferenceKind:
        with single_metric(
            name="ReconciliationDifferences",
            unit=MetricUnit.Count,
            value=outcome.count(kind),
            default_dimensions=metrics.default_dimensions,
        ) as metric:
            metric.add_dimension(name="kind", value=kind.value)
    metrics.add_metric("PaymentsReconciled", MetricUnit.Count, outcome.compared)
    metrics.add_metric("UnsettledAttempts", MetricUnit.Count, outcome.unsettled)
    metrics.add_metric("UnsettledAttemptsResolved", MetricUnit.Count, outcome.resolved)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = run.run(parse_run(event, clock.now()), clock.now())
    count(outcome)
    outcome.check()
    return outcome.summary()
