"""budget_reset: the daily roll-over of budget periods (R7, R8).

An EventBridge Scheduler schedule per billing timezone invokes the function at 00:05 local
time every day with ``{"run": "budget_reset", "timezone": ...}``: five minutes after the
local midnight at which budget periods end. The function reads the accounts of that
timezone whose period ended from the accounts table's ``resets`` index and rolls each over
with the same conditional write as on_lead's lazy roll-over.

The same daily run tells the contractors of that timezone whose card on file expires at
the end of this month (R14): it reads their keys from the sparse ``card_expiry`` index,
reads each account, and emails the notice once (``infra/notify.py``'s grants).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from functions.billing.invoices import BILLING_TIMEZONES
from infra import names
from infra.emails import EmailSending
from infra.function import BillingFunction
from infra.notify import grant_notices, notices_environment
from infra.republish import grant_publishing, publishing_environment
from infra.schedules import ScheduledRuns, schedule_dead_letter_queue
from infra.tables import BillingTables

# A timezone's due accounts are a few per day on average (one reset a month each), a few
# DynamoDB requests each.
TIMEOUT = Duration.seconds(300)
MEMORY_SIZE = 256

# R7: every day at 00:05 in the schedule's timezone.
DAILY_RUN = "cron(5 0 * * ? *)"


class BudgetReset(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tables: BillingTables,
        bus: events.IEventBus,
        unpublished: sqs.IQueue,
        layer: lambda_.ILayerVersion,
        email: EmailSending,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = schedule_dead_letter_queue(
            self,
            names.BUDGET_RESET_DEAD_LETTER_QUEUE_LOGICAL_ID,
            runs="the daily reset schedules",
            alarm="A daily budget reset failed (in the function or before it): budget "
            "periods of that timezone roll over on their next lead only, and budget pauses "
            "stay until an operator replays the run.",
        )
        self.function = BillingFunction(
            self,
            "Function",
            name=names.BUDGET_RESET,
            description="Rolls budget periods over every day at 00:05 local time, lifts "
            "budget pauses and tells of cards expiring this month",
            environment={
                names.ACCOUNTS_TABLE: tables.accounts.table_name,
                names.LEDGER_TABLE: tables.ledger.table_name,
                **publishing_environment(bus, unpublished),
                **notices_environment(tables, email),
            },
            layer=layer,
            timeout=TIMEOUT,
            memory_size=MEMORY_SIZE,
        )
        # A reset reads the due accounts' keys from the resets index, reads each account,
        # and is one transaction: the account's conditional update and the ledger entries,
        # put on the condition that they do not exist. The cards expiring this month are
        # the keys of the card_expiry index, each account read by its key. No Scan, no
        # DeleteItem.
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:Query"],
                resources=[
                    tables.index_arn("accounts", "resets"),
                    tables.index_arn("accounts", "card_expiry"),
                ],
            ),
            iam.PolicyStatement(
                actions=["dynamodb:GetItem", "dynamodb:UpdateItem"],
                resources=[tables.accounts.table_arn],
            ),
            iam.PolicyStatement(
                actions=["dynamodb:PutItem"],
                resources=[tables.ledger.table_arn],
            ),
        )
        grant_publishing(self.function, bus, unpublished)
        grant_notices(self.function, tables, email)

        # A retried run resets only what is still due. A run that could not be run lands
        # in the dead-letter queue, which is alarmed.
        runs = ScheduledRuns(
            self,
            function=self.function,
            dead_letter_queue=self.dead_letter_queue,
            role_logical_id=names.BUDGET_RESET_SCHEDULER_ROLE_LOGICAL_ID,
            role_description="Runs the daily schedules of budget_reset",
        )
        self.scheduler_role = runs.role
        self.schedules = {
            zone: runs.add(
                names.budget_reset_schedule_logical_id(zone),
                expression=DAILY_RUN,
                timezone=zone,
                input={"run": "budget_reset", "timezone": zone},
                description=f"R7: the daily budget reset of the accounts in {zone}",
            )
            for zone in BILLING_TIMEZONES
        }
