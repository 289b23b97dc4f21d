"""The EventBridge Scheduler schedules that run a billing function, and what their
failures become.

Scheduler invokes the function asynchronously. It retries handing an event to Lambda
within the hour; Lambda retries a run that failed in the function twice. Either way an
event that could not be run lands in the function's dead-letter queue, rather than being
dropped. A function run this way does only what is still due, so a retried run is safe.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import cast

from aws_cdk import Aws, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.function import BillingFunction
from infra.nag import acknowledge
from infra.queues import messages_visible_alarm, retained_queue

SCHEDULE_RETRIES = 3
SCHEDULE_MAX_EVENT_AGE = Duration.hours(1)
ASYNC_RETRIES = 2


def schedule_dead_letter_queue(
    scope: Construct, logical_id: str, *, runs: str, alarm: str
) -> sqs.Queue:
    """The dead-letter queue of a function that only its schedules run, with the logical
    id ``logical_id`` (``infra.names``), alarmed as soon as a message waits in it.

    Both the events the schedules could not hand over and the runs that failed in the
    function land there, so that no run is dropped silently; ``runs`` names the schedules
    ("the daily reconciliation schedule") and ``alarm`` says what a message there means.
    Nothing consumes the queue, an operator replays it: cdk-nag's dead-letter queue of a
    dead-letter queue is acknowledged. The queue and its alarm are children of ``scope``
    ("DeadLetterQueue", "DeadLettersAlarm"), so that their logical ids derive from the
    construct that owns the function.
    """
    queue = retained_queue(scope, "DeadLetterQueue", logical_id)
    acknowledge(
        queue,
        "AwsSolutions-SQS3",
        f"This queue is itself the dead-letter destination of {runs} and of the function's "
        "asynchronous invocations; an operator replays its messages, nothing consumes it "
        "automatically.",
    )
    messages_visible_alarm(scope, "DeadLettersAlarm", queue, alarm)
    return queue


class ScheduledRuns:
    """The schedules of one function, with the role they run as.

    Not a construct of its own: the role and the schedules are children of ``scope``, the
    construct that owns the function, so that their construct paths, and the logical id
    of the role's default policy derived from its path, do not depend on this helper.
    """

    def __init__(
        self,
        scope: Construct,
        *,
        function: BillingFunction,
        dead_letter_queue: sqs.IQueue,
        role_logical_id: str,
        role_description: str,
    ) -> None:
        self._scope = scope
        self._function = function
        self._dead_letter_queue = dead_letter_queue
        function.function.configure_async_invoke(
            on_failure=destinations.SqsDestination(dead_letter_queue),
            retry_attempts=ASYNC_RETRIES,
            max_event_age=SCHEDULE_MAX_EVENT_AGE,
        )
        self.role = self._role(role_logical_id, role_description)

    def _role(self, logical_id: str, description: str) -> iam.Role:
        """The role the schedules run as: it may invoke this function, and send the events
        it could not deliver to the dead-letter queue; nothing else."""
        role = iam.Role(
            self._scope,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            ),
            description=description,
        )
        cast(iam.CfnRole, role.node.default_child).override_logical_id(logical_id)
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"],
                resources=[self._function.function.function_arn],
            )
        )
        self._dead_letter_queue.grant(role, "sqs:SendMessage")
        return role

    def add(
        self,
        logical_id: str,
        *,
        expression: str,
        timezone: str | None,
        input: Mapping[str, str],
        description: str,
    ) -> scheduler.CfnSchedule:
        """A schedule with the logical id ``logical_id`` (``infra.names``) that invokes the
        function with ``input`` at ``expression``, in ``timezone`` (UTC when None)."""
        schedule = scheduler.CfnSchedule(
            self._scope,
            logical_id,
            description=description,
            schedule_expression=expression,
            schedule_expression_timezone=timezone,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self._function.function.function_arn,
                role_arn=self.role.role_arn,
                input=json.dumps(input),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=SCHEDULE_RETRIES,
                    maximum_event_age_in_seconds=int(SCHEDULE_MAX_EVENT_AGE.to_seconds()),
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=self._dead_letter_queue.queue_arn
                ),
            ),
        )
        schedule.override_logical_id(logical_id)
        return schedule
