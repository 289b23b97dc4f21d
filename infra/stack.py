"""The lead billing stack: tables, event bus, queues, functions, the leads stream mapping,
the operator API and the alarms an operator acts on.
"""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import Duration, RemovalPolicy, Stack, Tags
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import names
from infra.api import OperatorApi
from infra.function import BillingFunction, DependenciesLayer
from infra.nag import acknowledge
from infra.tables import BillingTables

# The oldest record the stream mapping may deliver; beyond it the record goes to the
# on-failure queue. An iterator age above ITERATOR_AGE_ALARM means billing lags behind
# delivery.
MAX_RECORD_AGE = Duration.hours(1)
ITERATOR_AGE_ALARM = Duration.seconds(60)
QUEUE_RETENTION = Duration.days(14)


def _queue(scope: Construct, construct_id: str, logical_id: str) -> sqs.Queue:
    """A queue of leads waiting for an operator; retained, since its messages are leads
    not billed yet."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=QUEUE_RETENTION,
        removal_policy=RemovalPolicy.RETAIN,
    )
    cast(sqs.CfnQueue, queue.node.default_child).override_logical_id(logical_id)
    return queue


def _messages_visible_alarm(
    scope: Construct, construct_id: str, queue: sqs.Queue, description: str
) -> cloudwatch.Alarm:
    return cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=description,
        metric=queue.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(5), statistic="Maximum"
        ),
        threshold=0,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


class LeadBillingStack(Stack):
    def __init__(self, scope: Construct, construct_id: str = names.STACK_NAME, **kwargs: Any):
        super().__init__(
            scope,
            construct_id,
            description="Pay-per-lead billing: charges delivered leads to contractors' budgets",
            **kwargs,
        )
        Tags.of(self).add("service", names.SERVICE_NAME)

        tables = BillingTables(self, "Tables")

        # LeadCharged, LeadRejected, AccountPaused, AccountReactivated; the lead
        # distribution system subscribes to this bus by its name.
        bus = events.EventBus(self, "EventBus", event_bus_name=names.BUS_NAME)
        cast(events.CfnEventBus, bus.node.default_child).override_logical_id(
            names.EVENT_BUS_LOGICAL_ID
        )

        quarantine_queue = _queue(self, "QuarantineQueue", names.QUARANTINE_QUEUE_LOGICAL_ID)
        failure_queue = _queue(self, "OnLeadFailureQueue", names.ON_LEAD_FAILURE_QUEUE_LOGICAL_ID)
        acknowledge(
            quarantine_queue,
            "AwsSolutions-SQS3",
            "The quarantine queue is itself the end of the line for invalid lead records: an "
            "operator reads and resolves them, no consumer retries them.",
        )
        acknowledge(
            failure_queue,
            "AwsSolutions-SQS3",
            "This queue is the dead-letter destination of the leads stream mapping (its "
            "on-failure destination), which the rule cannot see since it is not a redrive "
            "policy; nothing consumes it automatically.",
        )

        layer = DependenciesLayer(self, "Dependencies").layer

        on_lead = BillingFunction(
            self,
            "OnLead",
            name=names.ON_LEAD,
            description="Charges or rejects each lead inserted in the leads table",
            environment={
                names.ACCOUNTS_TABLE: tables.accounts.table_name,
                names.LEDGER_TABLE: tables.ledger.table_name,
                names.QUARANTINE_TABLE: tables.quarantine.table_name,
                names.QUARANTINE_QUEUE_URL: quarantine_queue.queue_url,
                names.EVENT_BUS_NAME: bus.event_bus_name,
            },
            layer=layer,
            timeout=Duration.seconds(60),
            memory_size=512,
        )
        # A charge is one transaction over the account and the ledger: its items are
        # authorized as PutItem, UpdateItem and ConditionCheckItem. No Scan, no DeleteItem:
        # the ledger is append-only.
        on_lead.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "dynamodb:ConditionCheckItem",
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                ],
                resources=[tables.accounts.table_arn, tables.ledger.table_arn],
            )
        )
        tables.quarantine.grant(on_lead.role, "dynamodb:PutItem")
        quarantine_queue.grant(on_lead.role, "sqs:SendMessage")
        bus.grant_put_events_to(on_lead.role)

        leads_stream_read = iam.Policy(
            self,
            "OnLeadLeadsStreamRead",
            roles=[on_lead.role],
            statements=[
                iam.PolicyStatement(
                    actions=[
                        "dynamodb:DescribeStream",
                        "dynamodb:GetRecords",
                        "dynamodb:GetShardIterator",
                    ],
                    resources=[cast(str, tables.leads.table_stream_arn)],
                ),
                iam.PolicyStatement(actions=["dynamodb:ListStreams"], resources=["*"]),
            ],
        )
        acknowledge(
            leads_stream_read,
            "AwsSolutions-IAM5[Resource::*]",
            "dynamodb:ListStreams, which the stream mapping calls, supports no resource-level "
            "permissions; the reads of records are limited to the leads table's stream.",
        )

        self.leads_stream_mapping = lambda_.EventSourceMapping(
            self,
            "LeadsStreamMapping",
            target=on_lead.function,
            event_source_arn=tables.leads.table_stream_arn,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            # A lead is billed once, when it is delivered; updates of a lead are not.
            filters=[
                lambda_.FilterCriteria.filter({"eventName": lambda_.FilterRule.is_equal("INSERT")})
            ],
            batch_size=100,
            max_batching_window=Duration.seconds(1),
            report_batch_item_failures=True,
            bisect_batch_on_error=True,
            retry_attempts=5,
            max_record_age=MAX_RECORD_AGE,
            parallelization_factor=1,
            on_failure=event_sources.SqsDlq(failure_queue),
        )
        cast(
            lambda_.CfnEventSourceMapping, self.leads_stream_mapping.node.default_child
        ).override_logical_id(names.LEADS_STREAM_MAPPING_LOGICAL_ID)
        # Creating the mapping checks that the role can read the stream.
        self.leads_stream_mapping.node.add_dependency(leads_stream_read)

        api = BillingFunction(
            self,
            "Api",
            name=names.API,
            description="Operator API: contractor accounts and their ledgers",
            environment={
                names.ACCOUNTS_TABLE: tables.accounts.table_name,
                names.LEDGER_TABLE: tables.ledger.table_name,
            },
            layer=layer,
            timeout=Duration.seconds(10),
            memory_size=256,
        )
        api.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:Query",
                    "dynamodb:UpdateItem",
                ],
                resources=[
                    *tables.arns_with_indexes("accounts"),
                    *tables.arns_with_indexes("ledger"),
                ],
            )
        )
        self.operator_api = OperatorApi(self, "OperatorApi", handler=api.function)

        self.functions = {names.ON_LEAD: on_lead, names.API: api}
        self.tables = tables
        self.bus = bus
        self.quarantine_queue = quarantine_queue
        self.failure_queue = failure_queue

        cloudwatch.Alarm(
            self,
            "OnLeadIteratorAgeAlarm",
            alarm_description="Billing lags behind lead delivery: the oldest lead in the "
            "stream waited more than a minute.",
            metric=on_lead.function.metric(
                "IteratorAge", statistic="Maximum", period=Duration.minutes(1)
            ),
            threshold=ITERATOR_AGE_ALARM.to_milliseconds(),
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        _messages_visible_alarm(
            self,
            "QuarantineMessagesAlarm",
            quarantine_queue,
            "Invalid lead records were quarantined: an operator must look.",
        )
        _messages_visible_alarm(
            self,
            "OnLeadFailuresAlarm",
            failure_queue,
            "Stream records could not be processed within their retries or age: those "
            "leads are not billed until an operator replays them.",
        )
