"""reconcile: the daily reconciliation of the ledger's payments with Stripe's (R5, R6).

An EventBridge Scheduler schedule invokes the function every day at 01:00 UTC with
``{"run": "reconcile", "scheduled_time": <the schedule's instant>}``; the function
reconciles the UTC day before that instant, so a retried run reconciles the same day. An
hour after midnight, the day's last payments have had their answers and webhooks.

The run first resolves the payment attempts left without an outcome for longer than
``collection.IN_FLIGHT``, read from the invoices' sparse ``unsettled`` index: it looks each
up in Stripe, charges under the same idempotency key when Stripe has no trace of it,
settles it, emails the invoice when that was its first attempt, and announces it. Then it
compares the day's ``payment`` entries, from the ledger's sparse ``payments_by_day`` index,
with the charges Stripe made that day, and reports each difference as a metric, a log line
and an event on the billing bus.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import names
from infra.documents import InvoiceDocumentsBucket
from infra.emails import EmailSending
from infra.function import BillingFunction
from infra.payments import StripeSecret
from infra.republish import grant_publishing, publishing_environment
from infra.schedules import ScheduledRuns, schedule_dead_letter_queue
from infra.tables import BillingTables

# Listing a day's charges is a Stripe request per 100 charges (a Friday of 100,000
# invoices: a thousand pages), plus a few requests per unsettled attempt: the longest a
# function may run.
TIMEOUT = Duration.minutes(15)
MEMORY_SIZE = 512

DAILY_RUN = "cron(0 1 * * ? *)"  # 01:00 UTC
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"


class Reconcile(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tables: BillingTables,
        bus: events.IEventBus,
        unpublished: sqs.IQueue,
        layer: lambda_.ILayerVersion,
        stripe: StripeSecret,
        email: EmailSending,
        documents: InvoiceDocumentsBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = schedule_dead_letter_queue(
            self,
            names.RECONCILE_DEAD_LETTER_QUEUE_LOGICAL_ID,
            runs="the daily reconciliation schedule",
            alarm="A daily reconciliation failed (in the function or before it): run the "
            "day again once the cause is fixed.",
        )
        self.function = BillingFunction(
            self,
            "Function",
            name=names.RECONCILE,
            description="Every day: resolves payment attempts whose answer never came, and "
            "compares the day's payments in the ledger with Stripe's",
            environment={
                names.ACCOUNTS_TABLE: tables.accounts.table_name,
                names.LEDGER_TABLE: tables.ledger.table_name,
                names.INVOICES_TABLE: tables.invoices.table_name,
                names.STRIPE_SECRET_NAME: stripe.secret_arn,
                **publishing_environment(bus, unpublished),
                names.EMAIL_SENDER: email.sender_address,
                names.EMAIL_CONFIGURATION_SET: email.configuration_set_name,
                names.DOCUMENTS_BUCKET: documents.bucket_name,
            },
            layer=layer,
            timeout=TIMEOUT,
            memory_size=MEMORY_SIZE,
        )
        # The unsettled attempts come from the invoices' sparse unsettled index, the day's
        # payments from the ledger's sparse payments_by_day index. Settling an attempt is
        # one transaction over the invoice, the account and the ledger (items authorized as
        # UpdateItem and PutItem); the email's claim is an update of the invoice. The
        # ledger is read by key for a payment recorded on another day. No Scan, no
        # DeleteItem.
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:Query"],
                resources=[
                    tables.index_arn("invoices", "unsettled"),
                    tables.index_arn("ledger", "payments_by_day"),
                ],
            ),
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:UpdateItem"],
                resources=[tables.accounts.table_arn, tables.invoices.table_arn],
            ),
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:PutItem"],
                resources=[tables.ledger.table_arn],
            ),
        )
        grant_publishing(self.function, bus, unpublished)
        stripe.grant_read(self.function)
        # R5: a first attempt resolved here emails the invoice, and keeps its PDF.
        email.grant_send(self.function)
        documents.grant_store(self.function)

        # A retried run reconciles the same day (the schedule's instant is in its input)
        # and repeats nothing. A run that could not be run lands in the dead-letter queue,
        # which is alarmed; an operator runs the day again with {"day": "YYYY-MM-DD"}.
        runs = ScheduledRuns(
            self,
            function=self.function,
            dead_letter_queue=self.dead_letter_queue,
            role_logical_id=names.RECONCILE_SCHEDULER_ROLE_LOGICAL_ID,
            role_description="Runs the daily schedule of reconcile",
        )
        self.scheduler_role = runs.role
        self.schedule = runs.add(
            names.RECONCILE_SCHEDULE_LOGICAL_ID,
            expression=DAILY_RUN,
            timezone=None,
            input={"run": "reconcile", "scheduled_time": SCHEDULED_TIME},
            description="R5, R6: the daily reconciliation of the day before with Stripe",
        )
