"""grace_check: the hourly schedule retries past-due payments during the grace period (R9)
and pauses for non-payment at its end (R10)."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters import clock
from functions.adapters.event_bus import billing_bus
from functions.adapters.grace_periods import GracePeriods
from functions.adapters.invoicing import InvoiceStore
from functions.adapters.mailer import SesMailer
from functions.adapters.models import connect
from functions.adapters.notices import NoticeStore, Notifier
from functions.adapters.payment_provider import payments_from_secret
from functions.adapters.settings import GraceCheckSettings
from functions.grace_check.grace_run import GraceRun, parse_run
from functions.usecases.collection import Collection

settings = GraceCheckSettings.from_env()
connect(settings.table_names())
logger = Logger()
# botocore carries every AWS request, PynamoDB's included; Stripe's are traced once it loads.
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()

bus = billing_bus(settings.event_bus_name, settings.unpublished_events_queue_url)
# The retries send no email: the invoice's email went out with its first failure.
run = GraceRun(
    GracePeriods(),
    Collection(InvoiceStore(), payments_from_secret(settings.stripe_secret_name), None, bus),
    bus,
    Notifier(
        NoticeStore(),
        SesMailer(boto3.client("sesv2"), settings.email_sender, settings.email_configuration_set),
    ),
)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parse_run(event)
    outcome = run.run(clock.now())
    metrics.add_metric("GracePeriodsRunning", MetricUnit.Count, outcome.running)
    metrics.add_metric("PaymentsRetried", MetricUnit.Count, outcome.retried)
    metrics.add_metric("AccountsPausedForNonPayment", MetricUnit.Count, outcome.paused)
    metrics.add_metric("GraceRemindersSent", MetricUnit.Count, outcome.reminded)
    return {
        "running": outcome.running,
        "retried": outcome.retried,
        "paused": outcome.paused,
        "reminded": outcome.reminded,
    }
