"""on_lead: the Leads table stream (INSERT records only) -> charge or reject each lead."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters import clock
from functions.adapters.event_bus import billing_bus
from functions.adapters.lead_charges import LeadCharges
from functions.adapters.models import connect
from functions.adapters.quarantine import Quarantine
from functions.adapters.settings import OnLeadSettings
from functions.on_lead.intake import LeadIntake

settings = OnLeadSettings.from_env()
connect(settings.table_names())
logger = Logger()
# botocore carries every AWS request, PynamoDB's included; Stripe's are traced once it loads.
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()
intake = LeadIntake(
    charges=LeadCharges(),
    quarantine=Quarantine(boto3.client("sqs"), settings.quarantine_queue_url, "leads-stream"),
    bus=billing_bus(settings.event_bus_name, settings.unpublished_events_queue_url),
    metrics=metrics,
    clock=lambda: clock.now(),
)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return intake.process(event["Records"], context)
