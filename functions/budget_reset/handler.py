"""budget_reset: the daily schedule of each billing timezone rolls budget periods over
(R7) and lifts budget pauses (R8)."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions.adapters import clock
from functions.adapters.accounts import AccountStore
from functions.adapters.budget_periods import BudgetPeriods
from functions.adapters.cards import ExpiringCards
from functions.adapters.event_bus import billing_bus
from functions.adapters.mailer import SesMailer
from functions.adapters.models import connect
from functions.adapters.notices import NoticeStore, Notifier
from functions.adapters.settings import BudgetResetSettings
from functions.budget_reset.reset_run import ResetRequest, ResetRun

settings = BudgetResetSettings.from_env()
connect(settings.table_names())
logger = Logger()
# botocore carries every AWS request, PynamoDB's included; Stripe's are traced once it loads.
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()
accounts = AccountStore()
run = ResetRun(
    BudgetPeriods(),
    billing_bus(settings.event_bus_name, settings.unpublished_events_queue_url),
    ExpiringCards(accounts),
    Notifier(
        NoticeStore(),
        SesMailer(boto3.client("sesv2"), settings.email_sender, settings.email_configuration_set),
    ),
)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = run.run(ResetRequest.parse(event), clock.now())
    metrics.add_metric("BudgetPeriodsReset", MetricUnit.Count, outcome.reset)
    metrics.add_metric("AccountsReactivated", MetricUnit.Count, outcome.reactivated)
    metrics.add_metric("CardExpiryNoticesSent", MetricUnit.Count, outcome.cards_expiring)
    return {
        "due": outcome.due,
        "reset": outcome.reset,
        "reactivated": outcome.reactivated,
        "cards_expiring": outcome.cards_expiring,
    }
