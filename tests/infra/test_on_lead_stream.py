"""on_lead reads inserted leads from the leads stream, at least once, without losing any."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra import names
from tests.infra.support import Synthesized, actions_of, get_att, protected_queue, resources_of


@pytest.fixture(scope="module")
def mapping(synthesized: Synthesized) -> dict[str, Any]:
    mappings = synthesized.of_type("AWS::Lambda::EventSourceMapping")
    on_lead = {"Ref": names.FUNCTION_LOGICAL_IDS[names.ON_LEAD]}
    assert [
        logical_id
        for logical_id, resource in mappings.items()
        if resource["Properties"]["FunctionName"] == on_lead
    ] == [names.LEADS_STREAM_MAPPING_LOGICAL_ID]
    return mappings[names.LEADS_STREAM_MAPPING_LOGICAL_ID]["Properties"]


def test_on_lead_reads_the_leads_table_stream(mapping: dict[str, Any]) -> None:
    assert mapping["EventSourceArn"] == get_att(names.TABLE_LOGICAL_IDS["leads"], "StreamArn")
    assert mapping["FunctionName"] == {"Ref": names.FUNCTION_LOGICAL_IDS[names.ON_LEAD]}
    assert mapping["StartingPosition"] == "TRIM_HORIZON"


def test_only_inserted_leads_reach_on_lead(mapping: dict[str, Any]) -> None:
    patterns = [json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]]

    assert patterns == [{"eventName": ["INSERT"]}]


def test_a_failed_record_fails_alone_through_partial_batch_response(
    mapping: dict[str, Any],
) -> None:
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True


def test_a_failing_record_is_retried_five_times_within_an_hour(mapping: dict[str, Any]) -> None:
    assert mapping["MaximumRetryAttempts"] == 5
    assert mapping["MaximumRecordAgeInSeconds"] == 3600


def test_records_are_processed_in_order_in_batches_of_up_to_100(mapping: dict[str, Any]) -> None:
    assert mapping["ParallelizationFactor"] == 1
    assert mapping["BatchSize"] == 100
    assert mapping["MaximumBatchingWindowInSeconds"] == 1


def test_records_given_up_on_go_to_the_on_failure_queue(
    synthesized: Synthesized, mapping: dict[str, Any]
) -> None:
    failure_queue = get_att(names.ON_LEAD_FAILURE_QUEUE_LOGICAL_ID)

    assert mapping["DestinationConfig"] == {"OnFailure": {"Destination": failure_queue}}
    assert any(
        "sqs:SendMessage" in actions_of(statement) and failure_queue in resources_of(statement)
        for statement in synthesized.role_statements(names.ON_LEAD)
    )


def test_on_lead_may_read_the_leads_stream_only(synthesized: Synthesized) -> None:
    stream = get_att(names.TABLE_LOGICAL_IDS["leads"], "StreamArn")
    reads = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"}

    granted = [
        statement
        for statement in synthesized.role_statements(names.ON_LEAD)
        if reads & set(actions_of(statement))
    ]

    assert granted
    assert all(resources_of(statement) == [stream] for statement in granted)
    assert reads <= {action for statement in granted for action in actions_of(statement)}


def test_the_mapping_waits_for_the_stream_read_policy(synthesized: Synthesized) -> None:
    policies = synthesized.of_type("AWS::IAM::Policy")
    role = {"Ref": synthesized.role_id(names.ON_LEAD)}
    (stream_policy,) = [
        logical_id
        for logical_id, policy in policies.items()
        if role in policy["Properties"]["Roles"]
        and any(
            "dynamodb:GetRecords" in actions_of(statement)
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        )
    ]

    depends_on = synthesized.resources[names.LEADS_STREAM_MAPPING_LOGICAL_ID]["DependsOn"]

    assert stream_policy in depends_on


def test_an_iterator_age_above_a_minute_raises_an_alarm(synthesized: Synthesized) -> None:
    alarms = [
        alarm["Properties"]
        for alarm in synthesized.of_type("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "IteratorAge"
        and alarm["Properties"]["Dimensions"]
        == [{"Name": "FunctionName", "Value": {"Ref": names.FUNCTION_LOGICAL_IDS[names.ON_LEAD]}}]
    ]

    assert len(alarms) == 1
    alarm = alarms[0]
    assert alarm["Namespace"] == "AWS/Lambda"
    assert alarm["Statistic"] == "Maximum"
    assert alarm["Threshold"] == 60_000  # milliseconds
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


@pytest.mark.parametrize(
    "queue", [names.QUARANTINE_QUEUE_LOGICAL_ID, names.ON_LEAD_FAILURE_QUEUE_LOGICAL_ID]
)
def test_a_message_waiting_in_a_queue_of_unbilled_leads_raises_an_alarm(
    synthesized: Synthesized, queue: str
) -> None:
    alarms = [
        alarm["Properties"]
        for alarm in synthesized.of_type("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and alarm["Properties"]["Dimensions"][0]["Value"] == get_att(queue, "QueueName")
    ]

    assert len(alarms) == 1
    assert alarms[0]["Namespace"] == "AWS/SQS"
    assert alarms[0]["Threshold"] == 0
    assert alarms[0]["ComparisonOperator"] == "GreaterThanThreshold"


@pytest.mark.parametrize(
    "queue", [names.QUARANTINE_QUEUE_LOGICAL_ID, names.ON_LEAD_FAILURE_QUEUE_LOGICAL_ID]
)
def test_queues_keep_messages_14_days_encrypted_and_over_tls_only(
    synthesized: Synthesized, queue: str
) -> None:
    properties = protected_queue(synthesized, queue)

    assert properties["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_billing_events_go_to_the_lead_billing_bus(synthesized: Synthesized) -> None:
    buses = synthesized.of_type("AWS::Events::EventBus")

    assert list(buses) == [names.EVENT_BUS_LOGICAL_ID]
    assert buses[names.EVENT_BUS_LOGICAL_ID]["Properties"]["Name"] == "lead-billing"
