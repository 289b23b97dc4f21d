"""weekly_invoice: issues, collects and emails invoices (R3..R6), set off three ways.

* The Friday run (R3): an EventBridge Scheduler schedule per billing timezone invokes the
  function at 06:00 local time on Fridays with ``{"run": "weekly", "timezone": ...}``.
  The function does not invoice there: it fans the run out, one message per account to
  invoice, onto the invoice work queue.
* The work queue: the function consumes it through an SQS mapping and invoices each
  account; a message that fails five receives goes to the work dead-letter queue.
* The threshold trigger (R4): a charge that brings an account's unbilled charges to its
  threshold sets ``invoice_due`` on the account; a filtered mapping on the accounts stream
  hands those account images to the function. It is one of the accounts stream's two
  readers, with notify's (``infra/notify.py``): DynamoDB's recommended maximum per shard.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions.billing.invoices import BILLING_TIMEZONES
from infra import names
from infra.documents import InvoiceDocumentsBucket
from infra.emails import EmailSending
from infra.function import BillingFunction
from infra.nag import acknowledge
from infra.payments import StripeSecret
from infra.queues import messages_visible_alarm, retained_queue
from infra.republish import grant_publishing, publishing_environment
from infra.schedules import ScheduledRuns
from infra.streams import MAX_RECORD_AGE, iterator_age_alarm, stream_read_policy
from infra.tables import BillingTables

TIMEOUT = Duration.seconds(120)
MEMORY_SIZE = 512

# R3: Friday, 06:00 in the schedule's timezone.
FRIDAY_RUN = "cron(0 6 ? * FRI *)"

# Lambda's advice for a queue a function consumes: six times the function's timeout, so
# that a message is not received again while a batch holding it may still run.
WORK_VISIBILITY_TIMEOUT = Duration.seconds(6 * TIMEOUT.to_seconds())
WORK_MAX_RECEIVES = 5
# A standard queue keeps a message's first enqueue time when it moves to the dead-letter
# queue, so the dead-letter queue keeps messages longer than the work queue does.
WORK_RETENTION = Duration.days(4)
WORK_BATCH_SIZE = 10
# R3 at scale (bench/RESULTS.md, the 100,000-contractor Friday): an invoice costs one Stripe
# request (its PaymentIntent) and about a second, mostly Stripe's answer, so the Friday run
# of a timezone goes as fast as Stripe lets it. Stripe allows 100 requests a second in live
# mode (https://docs.stripe.com/rate-limits), for everything that calls it at that moment:
# the Friday run takes 75 and leaves 25 for the API's card routes (5 calls a second, each a
# few requests), grace_check's retries and threshold invoices. Each of the work queue's
# environments starts at most one Stripe request a second and returns only once its last
# request's second has passed (``functions/adapters/pacing.py``): each place of the
# mapping's concurrency sends at most one request in any second, so 75 places never send
# more than 75, however their requests line up and whatever Stripe's latency. (Stripe's
# documentation also names a default of 25 requests a second per endpoint unless raised
# for the account: the share must not exceed what the account is granted for creating
# PaymentIntents.)
STRIPE_LIVE_REQUESTS_PER_SECOND = 100
FRIDAY_STRIPE_REQUESTS_PER_SECOND = 75
STRIPE_REQUEST_INTERVAL_SECONDS = 1.0
WORK_MAX_CONCURRENCY = FRIDAY_STRIPE_REQUESTS_PER_SECOND


def _threshold_filter() -> Mapping[str, Any]:
    """R4: account images written with ``invoice_due`` set; nothing else wakes the function."""
    return lambda_.FilterCriteria.filter(
        {
            "eventName": lambda_.FilterRule.or_("INSERT", "MODIFY"),
            "dynamodb": {"NewImage": {"invoice_due": {"BOOL": [True]}}},
        }
    )


class WeeklyInvoice(Construct):
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

        self.work_dead_letter_queue = retained_queue(
            self, "WorkDeadLetterQueue", names.INVOICE_WORK_DEAD_LETTER_QUEUE_LOGICAL_ID
        )
        self.work_queue = retained_queue(
            self,
            "WorkQueue",
            names.INVOICE_WORK_QUEUE_LOGICAL_ID,
            retention_period=WORK_RETENTION,
            visibility_timeout=WORK_VISIBILITY_TIMEOUT,
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=WORK_MAX_RECEIVES, queue=self.work_dead_letter_queue
            ),
        )
        self.failure_queue = retained_queue(
            self, "FailureQueue", names.WEEKLY_INVOICE_FAILURE_QUEUE_LOGICAL_ID
        )
        acknowledge(
            self.failure_queue,
            "AwsSolutions-SQS3",
            "This queue is the dead-letter destination of the accounts stream mapping (its "
            "on-failure destination), which the rule cannot see since it is not a redrive "
            "policy; nothing consumes it automatically.",
        )

        function = BillingFunction(
            self,
            "Function",
            name=names.WEEKLY_INVOICE,
            description="Issues, collects and emails invoices: the Friday run of each "
            "timezone, its work queue, and accounts that reached their threshold",
            environment={
                names.ACCOUNTS_TABLE: tables.accounts.table_name,
                names.LEDGER_TABLE: tables.ledger.table_name,
                names.INVOICES_TABLE: tables.invoices.table_name,
                names.INVOICE_QUEUE_URL: self.work_queue.queue_url,
                **publishing_environment(bus, unpublished),
                names.STRIPE_SECRET_NAME: stripe.secret_arn,
                names.EMAIL_SENDER: email.sender_address,
                names.EMAIL_CONFIGURATION_SET: email.configuration_set_name,
                names.DOCUMENTS_BUCKET: documents.bucket_name,
                names.STRIPE_REQUEST_INTERVAL: f"{STRIPE_REQUEST_INTERVAL_SECONDS:.3f}",
            },
            layer=layer,
            timeout=TIMEOUT,
            memory_size=MEMORY_SIZE,
        )
        self.function = function
        self._grant(function, tables, stripe, email)
        grant_publishing(function, bus, unpublished)
        # R5: the PDF of each email sent is kept, once (infra/documents.py).
        documents.grant_store(function)

        self.work_mapping = lambda_.EventSourceMapping(
            self,
            "WorkQueueMapping",
            target=function.function,
            event_source_arn=self.work_queue.queue_arn,
            batch_size=WORK_BATCH_SIZE,
            report_batch_item_failures=True,
            max_concurrency=WORK_MAX_CONCURRENCY,
        )
        cast(
            lambda_.CfnEventSourceMapping, self.work_mapping.node.default_child
        ).override_logical_id(names.INVOICE_WORK_MAPPING_LOGICAL_ID)
        # Creating the mapping checks that the role can receive from the queue.
        self.work_mapping.node.add_dependency(function.role)

        accounts_stream_read = stream_read_policy(
            self,
            "AccountsStreamRead",
            function.role,
            cast(str, tables.accounts.table_stream_arn),
        )
        self.accounts_stream_mapping = lambda_.EventSourceMapping(
            self,
            "AccountsStreamMapping",
            target=function.function,
            event_source_arn=tables.accounts.table_stream_arn,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            filters=[_threshold_filter()],
            batch_size=10,
            report_batch_item_failures=True,
            bisect_batch_on_error=True,
            retry_attempts=5,
            max_record_age=MAX_RECORD_AGE,
            parallelization_factor=1,
            on_failure=event_sources.SqsDlq(self.failure_queue),
        )
        cast(
            lambda_.CfnEventSourceMapping, self.accounts_stream_mapping.node.default_child
        ).override_logical_id(names.ACCOUNTS_STREAM_MAPPING_LOGICAL_ID)
        self.accounts_stream_mapping.node.add_dependency(accounts_stream_read, function.role)

        # A Friday run that could not be run lands in the work dead-letter queue too,
        # rather than being dropped.
        runs = ScheduledRuns(
            self,
            function=function,
            dead_letter_queue=self.work_dead_letter_queue,
            role_logical_id=names.WEEKLY_INVOICE_SCHEDULER_ROLE_LOGICAL_ID,
            role_description="Runs the Friday schedules of weekly_invoice",
        )
        self.scheduler_role = runs.role
        self.schedules = {
            timezone: runs.add(
                names.weekly_invoice_schedule_logical_id(timezone),
                expression=FRIDAY_RUN,
                timezone=timezone,
                input={"run": "weekly", "timezone": timezone},
                description=f"R3: the Friday invoice run of the accounts in {timezone}",
            )
            for timezone in BILLING_TIMEZONES
        }

        iterator_age_alarm(
            self,
            "AccountsStreamIteratorAgeAlarm",
            function.function,
            "Threshold invoices lag behind charges: the oldest account change in the "
            "accounts stream waited more than a minute.",
        )
        messages_visible_alarm(
            self,
            "WorkDeadLettersAlarm",
            self.work_dead_letter_queue,
            "Invoice work failed five times, or a Friday run failed (in the function or "
            "before it): those accounts are not invoiced until an operator replays them.",
        )
        messages_visible_alarm(
            self,
            "FailuresAlarm",
            self.failure_queue,
            "Accounts that reached their threshold could not be invoiced within the stream "
            "mapping's retries or age: an operator must replay them.",
        )

    def _grant(
        self,
        function: BillingFunction,
        tables: BillingTables,
        stripe: StripeSecret,
        email: EmailSending,
    ) -> None:
        # Issuing an invoice is a transaction over the account, the charges it claims in
        # the ledger and the invoice, each item conditioned. No Scan, no DeleteItem: the
        # ledger is append-only, an invoice is never deleted, and the accounts to invoice
        # come from the sparse billable index, an invoice's charges from the ledger's
        # unbilled index.
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:UpdateItem"],
                resources=[tables.accounts.table_arn],
            ),
            iam.PolicyStatement(
                actions=["dynamodb:Query"],
                resources=[tables.index_arn("accounts", "billable")],
            ),
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                resources=[tables.ledger.table_arn],
            ),
            iam.PolicyStatement(
                actions=["dynamodb:Query"],
                resources=[tables.index_arn("ledger", "unbilled")],
            ),
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                resources=[tables.invoices.table_arn],
            ),
        )
        # The function fans the Friday run out onto its own work queue, and consumes it.
        self.work_queue.grant(function.role, "sqs:SendMessage")
        self.work_queue.grant_consume_messages(function.role)
        stripe.grant_read(function)
        email.grant_send(function)
