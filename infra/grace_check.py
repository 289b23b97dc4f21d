"""grace_check: the hourly check of running grace periods (R9, R10).

An EventBridge Scheduler schedule invokes the function every hour with
``{"run": "grace_check"}``. The function reads the accounts whose grace period runs from
the accounts table's sparse ``grace`` index, retries their past-due invoices on the retry
days, and pauses for non-payment those whose grace period ended unpaid. Grace periods are
counted in hours from an instant, so the schedule needs no timezone.

The same run reminds the contractor of the grace end 72 and 24 hours before it (R14),
each reminder emailed once (``infra/notify.py``'s grants).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import names
from infra.emails import EmailSending
from infra.function import BillingFunction
from infra.notify import grant_notices, notices_environment
from infra.payments import StripeSecret
from infra.republish import grant_publishing, publishing_environment
from infra.schedules import ScheduledRuns, schedule_dead_letter_queue
from infra.tables import BillingTables

# A few accounts in grace at a time, each a few DynamoDB requests and a Stripe charge per
# past-due invoice on a retry day.
TIMEOUT = Duration.seconds(300)
MEMORY_SIZE = 256

HOURLY_RUN = "rate(1 hour)"


class GraceCheck(Construct):
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
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = schedule_dead_letter_queue(
            self,
            names.GRACE_CHECK_DEAD_LETTER_QUEUE_LOGICAL_ID,
            runs="the hourly grace check schedule",
            alarm="A grace check failed (in the function or before it): retries and "
            "non-payment pauses wait for the next hourly run; look at why it failed.",
        )
        self.function = BillingFunction(
            self,
            "Function",
            name=names.GRACE_CHECK,
            description="Every hour: retries past-due payments during the grace period, "
            "reminds of its end and pauses accounts for non-payment at its end",
            environment={
                names.ACCOUNTS_TABLE: tables.accounts.table_name,
                names.LEDGER_TABLE: tables.ledger.table_name,
                names.INVOICES_TABLE: tables.invoices.table_name,
                names.STRIPE_SECRET_NAME: stripe.secret_arn,
                **publishing_environment(bus, unpublished),
                **notices_environment(tables, email),
            },
            layer=layer,
            timeout=TIMEOUT,
            memory_size=MEMORY_SIZE,
        )
        # The accounts in grace come from the sparse grace index, their past-due invoices
        # from the invoices' by_contractor index. An attempt is recorded and settled on the
        # invoice in one transaction with the account and the ledger; a pause is one
        # transaction over the account and its ledger entry. No Scan, no DeleteItem.
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:Query"],
                resources=[
                    tables.index_arn("accounts", "grace"),
                    tables.index_arn("invoices", "by_contractor"),
                ],
            ),
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:UpdateItem"],
                resources=[tables.accounts.table_arn, tables.invoices.table_arn],
            ),
            iam.PolicyStatement(
                actions=["dynamodb:PutItem"],
                resources=[tables.ledger.table_arn],
            ),
        )
        grant_publishing(self.function, bus, unpublished)
        stripe.grant_read(self.function)
        grant_notices(self.function, tables, email)

        # A retried run does only what is still due. A run that could not be run lands in
        # the dead-letter queue, which is alarmed; the next hour's run catches up anyway.
        runs = ScheduledRuns(
            self,
            function=self.function,
            dead_letter_queue=self.dead_letter_queue,
            role_logical_id=names.GRACE_CHECK_SCHEDULER_ROLE_LOGICAL_ID,
            role_description="Runs the hourly schedule of grace_check",
        )
        self.scheduler_role = runs.role
        self.schedule = runs.add(
            names.GRACE_CHECK_SCHEDULE_LOGICAL_ID,
            expression=HOURLY_RUN,
            timezone=None,
            input={"run": "grace_check"},
            description="R9, R10: the hourly check of running grace periods",
        )
