"""republish: the unpublished events queue -> the billing bus, each message's entry put on
the bus again (``republishing``); a refused entry fails its message only."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters.event_bus import EventBus
from functions.adapters.settings import RepublishSettings
from functions.republish.republishing import Republisher

settings = RepublishSettings.from_env()
logger = Logger()
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()
# No fallback queue here: an entry the bus refuses again fails its message, which SQS
# delivers again.
republisher = Republisher(EventBus(boto3.client("events"), settings.event_bus_name), metrics)
processor = BatchProcessor(event_type=EventType.SQS)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(process_partial_response(event, republisher.record, processor, context))
