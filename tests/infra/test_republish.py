"""The unpublished events queue, its dead-letter queue and alarm, and the republish function
that puts the queue's events on the bus again (``infra/republish.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from functions.adapters.settings import RepublishSettings
from infra import names, republish
from tests.infra.support import Synthesized, actions_of, as_set, get_att, granted, protected_queue

QUEUE = get_att(names.UNPUBLISHED_EVENTS_QUEUE_LOGICAL_ID)
DLQ = get_att(names.UNPUBLISHED_EVENTS_DEAD_LETTER_QUEUE_LOGICAL_ID)
BUS = get_att(names.EVENT_BUS_LOGICAL_ID)
FUNCTION = {"Ref": names.FUNCTION_LOGICAL_IDS[names.REPUBLISH]}


@pytest.fixture(scope="module")
def mapping(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.properties(names.REPUBLISH_MAPPING_LOGICAL_ID)


def test_every_publisher_is_told_the_queue_and_may_only_send_to_it(
    synthesized: Synthesized,
) -> None:
    for function in names.PUBLISHERS:
        variables = synthesized.function(function)["Environment"]["Variables"]
        assert variables["UNPUBLISHED_EVENTS_QUEUE_URL"] == {
            "Ref": names.UNPUBLISHED_EVENTS_QUEUE_LOGICAL_ID
        }, function
        on_queue = {
            action
            for action, resources in granted(synthesized, function, "sqs:").items()
            if QUEUE in resources
        }
        assert on_queue == {"sqs:SendMessage"}, function


def test_the_publishers_are_every_function_that_publishes_billing_events(
    synthesized: Synthesized,
) -> None:
    publishing = {
        function
        for function in names.FUNCTION_LOGICAL_IDS
        if "events:PutEvents" in granted(synthesized, function, "events:")
    }

    assert publishing == {*names.PUBLISHERS, names.REPUBLISH}


def test_the_function_reads_only_the_bus_from_its_environment(synthesized: Synthesized) -> None:
    variables = synthesized.function(names.REPUBLISH)["Environment"]["Variables"]
    declared = {field.alias for field in RepublishSettings.model_fields.values()}

    assert set(variables) - set(names.POWERTOOLS_ENVIRONMENT) == declared == {"EVENT_BUS_NAME"}
    assert variables["EVENT_BUS_NAME"] == {"Ref": names.EVENT_BUS_LOGICAL_ID}


def test_the_function_puts_events_on_the_bus_and_consumes_the_queue_only(
    synthesized: Synthesized,
) -> None:
    services = {
        action.split(":")[0]
        for statement in synthesized.role_statements(names.REPUBLISH)
        for action in actions_of(statement)
    }
    sqs = granted(synthesized, names.REPUBLISH, "sqs:")

    assert services == {"events", "logs", "sqs", "xray"}
    assert granted(synthesized, names.REPUBLISH, "events:") == {"events:PutEvents": [BUS]}
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"):
        assert sqs[action] == [QUEUE]
    assert "sqs:SendMessage" not in sqs
    assert {resource for resources in sqs.values() for resource in as_set(resources)} == as_set(
        [QUEUE]
    )


def test_the_function_receives_batches_of_10_and_reports_the_failed_messages(
    mapping: dict[str, Any],
) -> None:
    assert mapping["EventSourceArn"] == QUEUE
    assert mapping["FunctionName"] == FUNCTION
    assert mapping["BatchSize"] == 10
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}


def test_the_mapping_waits_for_the_functions_permissions(synthesized: Synthesized) -> None:
    depends_on = synthesized.resources[names.REPUBLISH_MAPPING_LOGICAL_ID]["DependsOn"]

    assert synthesized.role_id(names.REPUBLISH) in depends_on


def test_a_refused_message_comes_again_after_six_timeouts_then_dead_letters(
    synthesized: Synthesized,
) -> None:
    queue = synthesized.properties(names.UNPUBLISHED_EVENTS_QUEUE_LOGICAL_ID)
    timeout = synthesized.function(names.REPUBLISH)["Timeout"]

    assert queue["VisibilityTimeout"] == 6 * timeout == 180
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": DLQ,
        "maxReceiveCount": republish.MAX_RECEIVES,
    }


@pytest.mark.parametrize(
    "queue",
    [
        names.UNPUBLISHED_EVENTS_QUEUE_LOGICAL_ID,
        names.UNPUBLISHED_EVENTS_DEAD_LETTER_QUEUE_LOGICAL_ID,
    ],
)
def test_the_queues_are_encrypted_retained_for_14_days_and_tls_only(
    synthesized: Synthesized, queue: str
) -> None:
    properties = protected_queue(synthesized, queue)

    assert properties["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_a_message_in_the_dead_letter_queue_raises_an_alarm(synthesized: Synthesized) -> None:
    alarms = [
        alarm["Properties"]
        for alarm in synthesized.of_type("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and alarm["Properties"]["Dimensions"]
        == [
            {
                "Name": "QueueName",
                "Value": get_att(
                    names.UNPUBLISHED_EVENTS_DEAD_LETTER_QUEUE_LOGICAL_ID, "QueueName"
                ),
            }
        ]
    ]

    assert len(alarms) == 1
    assert alarms[0]["Threshold"] == 0
    assert alarms[0]["ComparisonOperator"] == "GreaterThanThreshold"
