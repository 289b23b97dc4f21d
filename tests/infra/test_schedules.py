"""What the functions that only their schedules run (grace_check, budget_reset, reconcile)
have in common: their schedules alone invoke them, on time, as a role that may invoke the
function and dead-letter only; a run that fails, before the function or in it, is retried
then dead-lettered; the dead-letter queue is alarmed. When each function runs, and with
what input, is in its own test module."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from functions.billing.invoices import BILLING_TIMEZONES
from infra import names
from tests.infra.support import (
    Synthesized,
    as_set,
    get_att,
    granted,
    scheduler_role_grants,
)

UNPUBLISHED = get_att(names.UNPUBLISHED_EVENTS_QUEUE_LOGICAL_ID)  # what the bus refuses


@dataclass(frozen=True)
class Scheduled:
    """A scheduled function, with the logical ids of what its schedules run with."""

    function: str
    scheduler_role: str
    dead_letter_queue: str
    schedules: tuple[str, ...]

    @property
    def function_arn(self) -> dict[str, Any]:
        return get_att(names.FUNCTION_LOGICAL_IDS[self.function])

    @property
    def dead_letter_queue_arn(self) -> dict[str, Any]:
        return get_att(self.dead_letter_queue)


SCHEDULED = [
    Scheduled(
        function=names.GRACE_CHECK,
        scheduler_role=names.GRACE_CHECK_SCHEDULER_ROLE_LOGICAL_ID,
        dead_letter_queue=names.GRACE_CHECK_DEAD_LETTER_QUEUE_LOGICAL_ID,
        schedules=(names.GRACE_CHECK_SCHEDULE_LOGICAL_ID,),
    ),
    Scheduled(
        function=names.BUDGET_RESET,
        scheduler_role=names.BUDGET_RESET_SCHEDULER_ROLE_LOGICAL_ID,
        dead_letter_queue=names.BUDGET_RESET_DEAD_LETTER_QUEUE_LOGICAL_ID,
        schedules=tuple(names.budget_reset_schedule_logical_id(zone) for zone in BILLING_TIMEZONES),
    ),
    Scheduled(
        function=names.RECONCILE,
        scheduler_role=names.RECONCILE_SCHEDULER_ROLE_LOGICAL_ID,
        dead_letter_queue=names.RECONCILE_DEAD_LETTER_QUEUE_LOGICAL_ID,
        schedules=(names.RECONCILE_SCHEDULE_LOGICAL_ID,),
    ),
]

each_function = pytest.mark.parametrize(
    "scheduled", SCHEDULED, ids=[scheduled.function for scheduled in SCHEDULED]
)
each_schedule = pytest.mark.parametrize(
    ("scheduled", "schedule_id"),
    [(scheduled, schedule_id) for scheduled in SCHEDULED for schedule_id in scheduled.schedules],
    ids=[schedule_id for scheduled in SCHEDULED for schedule_id in scheduled.schedules],
)


@each_function
def test_the_function_is_run_by_its_schedules_only(
    synthesized: Synthesized, scheduled: Scheduled
) -> None:
    running = [
        logical_id
        for logical_id, resource in synthesized.of_type("AWS::Scheduler::Schedule").items()
        if resource["Properties"]["Target"]["Arn"] == scheduled.function_arn
    ]

    assert sorted(running) == sorted(scheduled.schedules)


@each_schedule
def test_each_schedule_is_enabled_and_runs_on_time(
    synthesized: Synthesized, scheduled: Scheduled, schedule_id: str
) -> None:
    schedule = synthesized.properties(schedule_id)

    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["State"] == "ENABLED"


@each_schedule
def test_each_schedule_invokes_the_function_as_its_role_retries_then_dead_letters(
    synthesized: Synthesized, scheduled: Scheduled, schedule_id: str
) -> None:
    target = synthesized.properties(schedule_id)["Target"]

    assert target["Arn"] == scheduled.function_arn
    assert target["RoleArn"] == get_att(scheduled.scheduler_role)
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}
    assert target["DeadLetterConfig"] == {"Arn": scheduled.dead_letter_queue_arn}


@each_function
def test_the_schedules_role_may_invoke_the_function_and_dead_letter_only(
    synthesized: Synthesized, scheduled: Scheduled
) -> None:
    assert scheduler_role_grants(synthesized, scheduled.scheduler_role) == sorted(
        [
            ("lambda:InvokeFunction", json.dumps(scheduled.function_arn, sort_keys=True)),
            ("sqs:SendMessage", json.dumps(scheduled.dead_letter_queue_arn, sort_keys=True)),
        ]
    )


@each_function
def test_a_run_that_fails_in_the_function_is_retried_then_dead_lettered(
    synthesized: Synthesized, scheduled: Scheduled
) -> None:
    function = {"Ref": names.FUNCTION_LOGICAL_IDS[scheduled.function]}
    (config,) = [
        config["Properties"]
        for config in synthesized.of_type("AWS::Lambda::EventInvokeConfig").values()
        if config["Properties"]["FunctionName"] == function
    ]

    assert config["MaximumRetryAttempts"] == 2
    assert config["MaximumEventAgeInSeconds"] == 3600
    assert config["DestinationConfig"] == {
        "OnFailure": {"Destination": scheduled.dead_letter_queue_arn}
    }


@each_function
def test_the_function_sends_to_its_dead_letter_queue_and_the_unpublished_events_queue_only(
    synthesized: Synthesized, scheduled: Scheduled
) -> None:
    """Lambda sends a run that failed its retries to the dead-letter queue as the function."""
    sqs = granted(synthesized, scheduled.function, "sqs:")

    assert {resource for resources in sqs.values() for resource in as_set(resources)} == (
        as_set([scheduled.dead_letter_queue_arn, UNPUBLISHED])
    )


@each_function
def test_the_dead_letter_queue_is_alarmed(synthesized: Synthesized, scheduled: Scheduled) -> None:
    dimensions = [
        alarm["Properties"]["Dimensions"]
        for alarm in synthesized.of_type("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    ]

    assert [
        {"Name": "QueueName", "Value": get_att(scheduled.dead_letter_queue, "QueueName")}
    ] in dimensions
