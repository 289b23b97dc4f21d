"""What a function that reads a DynamoDB stream through an event source mapping needs: the
permission to read that stream, and an alarm when it falls behind.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.nag import acknowledge

# The oldest record a stream mapping may deliver; beyond it the record goes to the
# mapping's on-failure queue.
MAX_RECORD_AGE = Duration.hours(1)
# An iterator age above this means the function lags behind the writes to its table.
ITERATOR_AGE_ALARM = Duration.seconds(60)


def stream_read_policy(
    scope: Construct, construct_id: str, role: iam.IRole, stream_arn: str
) -> iam.Policy:
    """Lets ``role`` read the stream ``stream_arn``, and nothing else.

    A policy of its own, so that the mapping can depend on it: creating a mapping checks
    that the function's role can read the stream.
    """
    policy = iam.Policy(
        scope,
        construct_id,
        roles=[role],
        statements=[
            iam.PolicyStatement(
                actions=[
                    "dynamodb:DescribeStream",
                    "dynamodb:GetRecords",
                    "dynamodb:GetShardIterator",
                ],
                resources=[stream_arn],
            ),
            iam.PolicyStatement(actions=["dynamodb:ListStreams"], resources=["*"]),
        ],
    )
    acknowledge(
        policy,
        "AwsSolutions-IAM5[Resource::*]",
        "dynamodb:ListStreams, which the stream mapping calls, supports no resource-level "
        "permissions; the reads of records are limited to one table's stream.",
    )
    return policy


def iterator_age_alarm(
    scope: Construct, construct_id: str, function: lambda_.IFunction, description: str
) -> cloudwatch.Alarm:
    return cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=description,
        metric=function.metric("IteratorAge", statistic="Maximum", period=Duration.minutes(1)),
        threshold=ITERATOR_AGE_ALARM.to_milliseconds(),
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
