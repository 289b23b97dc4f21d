"""weekly_invoice: issues, collects and emails invoices (R3..R6), set off three ways.

* The Friday run (R3): an EventBridge Scheduler schedule per billing timezone invokes the
  function at 06:00 local time on Fridays with ``{"run": "weekly", "timezone": ...}``.
  The function does not invoice there: it fans the run out, one message per account to
  invoice, onto the invoice work queue.
* The work queue: the function consumes it through an SQS mapping and invoices each
  account; a message that fails five receives goes to the work dead-letter queue.
* The threshold trigger (R4): a charge that brings an account's unbilled charges to its
  threshold sets ``invoice_due`` on the account; a filtered mapping on the accounts stream
  hands those account images to the function.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from aws_cdk import Aws, Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions.billing.invoices import BILLING_TIMEZONES
from infra import names
from infra.emails import EmailSending
from infra.function import BillingFunction
from infra.nag import acknowledge
from infra.payments import StripeSecret
from infra.queues import messages_visible_alarm, retained_queue
from infra.streams import MAX_RECORD_AGE, iterator_age_alarm, stream_read_policy
from infra.tables import BillingTables

TIMEOUT = Duration.seconds(120)
MEMORY_SIZE = 512

# R3: Friday, 06:00 in the schedule's timezone.
FRIDAY_RUN = "cron(0 6 ? * FRI *)"
# Scheduler retries a failed invocation this often within the hour, then sends the event
# to the work dead-letter queue.
SCHEDULE_RETRIES = 3
SCHEDULE_MAX_EVENT_AGE = Duration.hours(1)
ASYNC_RETRIES = 2

# Lambda's advice for a queue a function consumes: six times the function's timeout, so
# that a message is not received again while a batch holding it may still run.
WORK_VISIBILITY_TIMEOUT = Duration.seconds(6 * TIMEOUT.to_seconds())
WORK_MAX_RECEIVES = 5
# A standard queue keeps a message's first enqueue time when it moves to the dead-letter
# queue, so the dead-letter queue keeps messages longer than the work queue does.
WORK_RETENTION = Duration.days(4)
WORK_BATCH_SIZE = 10
# Keeps Stripe well under its limit of 100 requests per second in live mode: each invoice
# costs a few Stripe requests, and one invocation handles its messages one after another,
# so five invocations at a time stay far below it.
WORK_MAX_CONCURRENCY = 5


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
        layer: lambda_.ILayerVersion,
        stripe: StripeSecret,
        email: EmailSending,
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
                names.EVENT_BUS_NAME: bus.event_bus_name,
                names.STRIPE_SECRET_NAME: stripe.secret_arn,
                names.EMAIL_SENDER: email.sender_address,
                names.EMAIL_CONFIGURATION_SET: email.configuration_set_name,
            },
            layer=layer,
            timeout=TIMEOUT,
            memory_size=MEMORY_SIZE,
        )
        self.function = function
        self._grant(function, tables, bus, stripe, email)

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

        # Scheduler invokes the function asynchronously: its retry policy covers handing
        # the event to Lambda. A Friday run that fails in the function is retried by Lambda,
        # then lands in the work dead-letter queue too, rather than being dropped.
        function.function.configure_async_invoke(
            on_failure=destinations.SqsDestination(self.work_dead_letter_queue),
            retry_attempts=ASYNC_RETRIES,
            max_event_age=SCHEDULE_MAX_EVENT_AGE,
        )
        self.scheduler_role = self._scheduler_role(function)
        self.schedules = {
            timezone: self._friday_schedule(timezone, function) for timezone in BILLING_TIMEZONES
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
        bus: events.IEventBus,
        stripe: StripeSecret,
        email: EmailSending,
    ) -> None:
        # Issuing an invoice is a transaction over the account, the charges it claims in
        # the ledger and the invoice: its items are authorized as PutItem, UpdateItem and
        # ConditionCheckItem. No Scan, no DeleteItem: the ledger is append-only, an
        # invoice is never deleted, and the accounts to invoice come from the sparse
        # billable index.
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:UpdateItem"],
                resources=[tables.accounts.table_arn],
            ),
            iam.PolicyStatement(
                actions=["dynamodb:Query"],
                resources=[tables.index_arn("accounts", "billable")],
            ),
            iam.PolicyStatement(
                actions=[
                    "dynamodb:BatchGetItem",
                    "dynamodb:ConditionCheckItem",
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                ],
                resources=[tables.ledger.table_arn],
            ),
            iam.PolicyStatement(
                actions=["dynamodb:Query"],
                resources=[tables.index_arn("ledger", "unbilled")],
            ),
            iam.PolicyStatement(
                actions=[
                    "dynamodb:ConditionCheckItem",
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                ],
                resources=[tables.invoices.table_arn],
            ),
            iam.PolicyStatement(
                actions=["dynamodb:Query"],
                resources=tables.arns_with_indexes("invoices"),
            ),
        )
        bus.grant_put_events_to(function.role)
        # The function fans the Friday run out onto its own work queue, and consumes it.
        self.work_queue.grant(function.role, "sqs:SendMessage")
        self.work_queue.grant_consume_messages(function.role)
        stripe.grant_read(function)
        email.grant_send(function)

    def _scheduler_role(self, function: BillingFunction) -> iam.Role:
        """The role the Friday schedules run as: it may invoke this function, and send
        the events it could not deliver to the work dead-letter queue."""
        role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            ),
            description="Runs the Friday schedules of weekly_invoice",
        )
        cast(iam.CfnRole, role.node.default_child).override_logical_id(
            names.WEEKLY_INVOICE_SCHEDULER_ROLE_LOGICAL_ID
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[function.function.function_arn]
            )
        )
        self.work_dead_letter_queue.grant(role, "sqs:SendMessage")
        return role

    def _friday_schedule(self, timezone: str, function: BillingFunction) -> scheduler.CfnSchedule:
        logical_id = names.weekly_invoice_schedule_logical_id(timezone)
        schedule = scheduler.CfnSchedule(
            self,
            logical_id,
            description=f"R3: the Friday invoice run of the accounts in {timezone}",
            schedule_expression=FRIDAY_RUN,
            schedule_expression_timezone=timezone,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=function.function.function_arn,
                role_arn=self.scheduler_role.role_arn,
                input=json.dumps({"run": "weekly", "timezone": timezone}),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=SCHEDULE_RETRIES,
                    maximum_event_age_in_seconds=int(SCHEDULE_MAX_EVENT_AGE.to_seconds()),
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=self.work_dead_letter_queue.queue_arn
                ),
            ),
        )
        schedule.override_logical_id(logical_id)
        return schedule
