"""The stack's SQS queues and the alarm on a queue an operator must look at.

Every queue is encrypted (SQS managed keys), refuses requests that are not over TLS, and
is retained when the stack is deleted, since its messages are billing work not done yet.
"""

from __future__ import annotations

from typing import cast

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sqs as sqs
from constructs import Construct

# The longest SQS keeps a message: a queue an operator reads keeps it that long.
QUEUE_RETENTION = Duration.days(14)


def retained_queue(
    scope: Construct,
    construct_id: str,
    logical_id: str,
    *,
    retention_period: Duration = QUEUE_RETENTION,
    visibility_timeout: Duration | None = None,
    dead_letter_queue: sqs.DeadLetterQueue | None = None,
) -> sqs.Queue:
    """A queue with the logical id ``logical_id`` (``infra.names``)."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=retention_period,
        visibility_timeout=visibility_timeout,
        dead_letter_queue=dead_letter_queue,
        removal_policy=RemovalPolicy.RETAIN,
    )
    cast(sqs.CfnQueue, queue.node.default_child).override_logical_id(logical_id)
    return queue


def messages_visible_alarm(
    scope: Construct, construct_id: str, queue: sqs.IQueue, description: str
) -> cloudwatch.Alarm:
    """An alarm as soon as one message waits in ``queue``."""
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
