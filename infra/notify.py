"""R12, R14: the ``notify`` function, and what every function that sends notices needs.

``notify`` reads the accounts table's stream (``NEW_AND_OLD_IMAGES``) and compares each
account's old and new image: a pause that started, a pause that was lifted, a budget
period whose spend reached 75 % of its budget. Each of those is emailed once, claimed and
marked sent in the notices table (``functions/adapters/notices.py``). The pauses that
started and the budget pauses a new period lifted are also announced on the billing bus,
with the ids their writers announced them under, so that none is lost with a
transaction's answer (``functions/notify/account_changes.py``). Only ``MODIFY`` records
reach it: an account is created unpaused with nothing spent, and accounts are never
deleted, so an ``INSERT`` or a ``REMOVE`` never needs a notice. The images carry
everything the email and the events say, so the function reads no account: it may read the
stream, the notices table's items, send through SES and publish to the bus (or the
unpublished events queue), nothing else.

The accounts stream now has two readers, weekly_invoice's threshold mapping
(``infra/weekly_invoice.py``) and this one: DynamoDB's recommended maximum of concurrent
readers per shard. A third consumer of account changes should not add a third mapping;
fan out from one of these instead (EventBridge Pipes, Kinesis Data Streams for DynamoDB),
or reads of the stream get throttled and every reader falls behind.

budget_reset (the card that expires this month) and grace_check (the reminders before the
grace end) send notices too: ``notices_environment`` and ``grant_notices`` give them the
same variables and grants.
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

from infra import names
from infra.emails import EmailSending
from infra.function import BillingFunction
from infra.nag import acknowledge
from infra.queues import messages_visible_alarm, retained_queue
from infra.republish import grant_publishing, publishing_environment
from infra.streams import MAX_RECORD_AGE, iterator_age_alarm, stream_read_policy
from infra.tables import BillingTables

# Most account changes are charges that need no notice, decided in memory; a record that
# does costs a claim, an SES send and a mark. A batch of 50 all needing an email (the
# reactivations of a timezone's 00:05 budget reset) sends well within the timeout.
TIMEOUT = Duration.seconds(60)
MEMORY_SIZE = 256
BATCH_SIZE = 50
# A notice may wait a second for its batch to fill; charges come in bursts.
BATCHING_WINDOW = Duration.seconds(1)
RETRY_ATTEMPTS = 5

# Claiming, reclaiming and marking a notice (``NoticeStore``): conditional updates (a claim
# creates the item), and the item back when a claim's condition fails. No Scan, no
# DeleteItem: the notices sent are the record that stops a notice from being sent twice.
NOTICE_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem")


def notices_environment(tables: BillingTables, email: EmailSending) -> dict[str, str]:
    """The variables ``NoticesSettings`` adds to a function's environment."""
    return {
        names.NOTICES_TABLE: tables.notices.table_name,
        names.EMAIL_SENDER: email.sender_address,
        names.EMAIL_CONFIGURATION_SET: email.configuration_set_name,
    }


def grant_notices(function: BillingFunction, tables: BillingTables, email: EmailSending) -> None:
    """Claim, mark and send notices: items of the notices table, and SES sending from the
    sender's domain with the configuration set."""
    function.add_to_role_policy(
        iam.PolicyStatement(actions=list(NOTICE_ACTIONS), resources=[tables.notices.table_arn])
    )
    email.grant_send(function)


def _modified_accounts() -> Mapping[str, Any]:
    """Only a change of an existing account can start or lift a pause, or cross 75 %."""
    return lambda_.FilterCriteria.filter({"eventName": lambda_.FilterRule.is_equal("MODIFY")})


class Notify(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tables: BillingTables,
        layer: lambda_.ILayerVersion,
        email: EmailSending,
        bus: events.IEventBus,
        unpublished: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)

        self.failure_queue = retained_queue(
            self, "FailureQueue", names.NOTIFY_FAILURE_QUEUE_LOGICAL_ID
        )
        acknowledge(
            self.failure_queue,
            "AwsSolutions-SQS3",
            "This queue is the dead-letter destination of notify's accounts stream mapping "
            "(its on-failure destination), which the rule cannot see since it is not a "
            "redrive policy; nothing consumes it automatically.",
        )

        function = BillingFunction(
            self,
            "Function",
            name=names.NOTIFY,
            description="Announces the pauses and budget reactivations, and emails the "
            "pauses, reactivations and 75 % budget warnings, that the accounts stream shows "
            "(R12, R14)",
            environment={
                names.ACCOUNTS_TABLE: tables.accounts.table_name,
                names.LEDGER_TABLE: tables.ledger.table_name,
                **notices_environment(tables, email),
                **publishing_environment(bus, unpublished),
            },
            layer=layer,
            timeout=TIMEOUT,
            memory_size=MEMORY_SIZE,
        )
        self.function = function
        # No grant on the accounts or ledger tables: the stream's images carry what the
        # notices say. The settings name those tables all the same (TablesSettings).
        grant_notices(function, tables, email)
        grant_publishing(function, bus, unpublished)

        stream_read = stream_read_policy(
            self, "AccountsStreamRead", function.role, cast(str, tables.accounts.table_stream_arn)
        )
        self.accounts_stream_mapping = lambda_.EventSourceMapping(
            self,
            "AccountsStreamMapping",
            target=function.function,
            event_source_arn=tables.accounts.table_stream_arn,
            # A new reader of a stream that already holds a day of changes: from
            # TRIM_HORIZON it would email pauses and lifts up to a day old, and send the
            # records older than MAX_RECORD_AGE to the failure queue. Once created the
            # mapping keeps its position, so nothing after its creation is missed.
            starting_position=lambda_.StartingPosition.LATEST,
            filters=[_modified_accounts()],
            batch_size=BATCH_SIZE,
            max_batching_window=BATCHING_WINDOW,
            report_batch_item_failures=True,
            bisect_batch_on_error=True,
            retry_attempts=RETRY_ATTEMPTS,
            max_record_age=MAX_RECORD_AGE,
            parallelization_factor=1,
            on_failure=event_sources.SqsDlq(self.failure_queue),
        )
        cast(
            lambda_.CfnEventSourceMapping, self.accounts_stream_mapping.node.default_child
        ).override_logical_id(names.NOTIFY_ACCOUNTS_STREAM_MAPPING_LOGICAL_ID)
        # Creating the mapping checks that the role can read the stream.
        self.accounts_stream_mapping.node.add_dependency(stream_read, function.role)

        iterator_age_alarm(
            self,
            "AccountsStreamIteratorAgeAlarm",
            function.function,
            "Notices lag behind account changes: the oldest account change in the accounts "
            "stream waited more than a minute for notify.",
        )
        messages_visible_alarm(
            self,
            "FailuresAlarm",
            self.failure_queue,
            "Account changes could not be checked for notices within the stream mapping's "
            "retries or age: pauses, reactivations or budget warnings may not have been "
            "emailed until an operator replays them.",
        )
