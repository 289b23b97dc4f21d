"""R12, R14: notify reads the modified accounts from the accounts stream, at least once,
without losing any, and announces their pauses on the billing bus; it and the other
senders of notices (budget_reset, grace_check) may claim and mark notices and send through
SES, and nothing more."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.adapters.settings import NoticesSettings, NotifySettings
from infra import names
from tests.infra.support import (
    Synthesized,
    actions_of,
    as_set,
    get_att,
    granted,
    protected_queue,
)

FUNCTION = {"Ref": names.FUNCTION_LOGICAL_IDS[names.NOTIFY]}
ACCOUNTS = get_att(names.TABLE_LOGICAL_IDS["accounts"])
ACCOUNTS_STREAM = get_att(names.TABLE_LOGICAL_IDS["accounts"], "StreamArn")
NOTICES = get_att(names.TABLE_LOGICAL_IDS["notices"])
FAILURE_QUEUE = get_att(names.NOTIFY_FAILURE_QUEUE_LOGICAL_ID)
UNPUBLISHED_QUEUE = get_att(names.UNPUBLISHED_EVENTS_QUEUE_LOGICAL_ID)
STREAM_READS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")
NOTICE_SENDERS = [names.NOTIFY, names.BUDGET_RESET, names.GRACE_CHECK]
SENDER_DOMAIN = {"Fn::Select": [1, {"Fn::Split": ["@", {"Ref": names.EMAIL_SENDER_PARAMETER}]}]}


@pytest.fixture(scope="module")
def function(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.function(names.NOTIFY)


@pytest.fixture(scope="module")
def mapping(synthesized: Synthesized) -> dict[str, Any]:
    mappings = synthesized.of_type("AWS::Lambda::EventSourceMapping")
    assert [
        logical_id
        for logical_id, resource in mappings.items()
        if resource["Properties"]["FunctionName"] == FUNCTION
    ] == [names.NOTIFY_ACCOUNTS_STREAM_MAPPING_LOGICAL_ID]
    return mappings[names.NOTIFY_ACCOUNTS_STREAM_MAPPING_LOGICAL_ID]["Properties"]


# ----------------------------------------------------------------------- the function


def test_the_function_runs_the_notify_handler(function: dict[str, Any]) -> None:
    assert function["Handler"] == "functions.notify.handler.handler"
    assert function["Timeout"] == 60
    assert function["MemorySize"] == 256


def test_its_environment_is_exactly_what_notify_settings_read(function: dict[str, Any]) -> None:
    variables = function["Environment"]["Variables"]

    assert set(variables) - set(names.POWERTOOLS_ENVIRONMENT) == names.settings_variables(
        NotifySettings
    )
    assert names.settings_variables(NotifySettings) == {
        "ACCOUNTS_TABLE",
        "LEDGER_TABLE",
        "NOTICES_TABLE",
        "EMAIL_SENDER",
        "EMAIL_CONFIGURATION_SET",
        "EVENT_BUS_NAME",
        "UNPUBLISHED_EVENTS_QUEUE_URL",
    }
    assert variables["EVENT_BUS_NAME"] == {"Ref": names.EVENT_BUS_LOGICAL_ID}
    assert variables["NOTICES_TABLE"] == {"Ref": names.TABLE_LOGICAL_IDS["notices"]}
    assert variables["EMAIL_SENDER"] == {"Ref": names.EMAIL_SENDER_PARAMETER}
    assert variables["EMAIL_CONFIGURATION_SET"] == {"Ref": names.INVOICE_EMAILS_LOGICAL_ID}


@pytest.mark.parametrize("function_name", NOTICE_SENDERS)
def test_every_sender_of_notices_names_the_same_notices_table_and_sender(
    synthesized: Synthesized, function_name: str
) -> None:
    variables = synthesized.function(function_name)["Environment"]["Variables"]

    assert {name: variables[name] for name in names.settings_variables(NoticesSettings)} == {
        "ACCOUNTS_TABLE": {"Ref": names.TABLE_LOGICAL_IDS["accounts"]},
        "LEDGER_TABLE": {"Ref": names.TABLE_LOGICAL_IDS["ledger"]},
        "NOTICES_TABLE": {"Ref": names.TABLE_LOGICAL_IDS["notices"]},
        "EMAIL_SENDER": {"Ref": names.EMAIL_SENDER_PARAMETER},
        "EMAIL_CONFIGURATION_SET": {"Ref": names.INVOICE_EMAILS_LOGICAL_ID},
    }


# ----------------------------------------------------------------------- the mapping


def test_notify_reads_the_accounts_stream_from_its_creation(mapping: dict[str, Any]) -> None:
    assert mapping["EventSourceArn"] == ACCOUNTS_STREAM
    assert mapping["FunctionName"] == FUNCTION
    # A new reader of a stream holding a day of changes would otherwise email stale ones.
    assert mapping["StartingPosition"] == "LATEST"


def test_only_modified_accounts_reach_notify(mapping: dict[str, Any]) -> None:
    patterns = [json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]]

    assert patterns == [{"eventName": ["MODIFY"]}]


def test_a_failed_record_fails_alone_through_partial_batch_response(
    mapping: dict[str, Any],
) -> None:
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True


def test_a_failing_record_is_retried_five_times_within_an_hour_then_sent_to_the_failure_queue(
    mapping: dict[str, Any],
) -> None:
    assert mapping["MaximumRetryAttempts"] == 5
    assert mapping["MaximumRecordAgeInSeconds"] == 3600
    assert mapping["DestinationConfig"] == {"OnFailure": {"Destination": FAILURE_QUEUE}}


def test_records_are_processed_in_order_in_batches_of_up_to_50(mapping: dict[str, Any]) -> None:
    assert mapping["ParallelizationFactor"] == 1
    assert mapping["BatchSize"] == 50
    assert mapping["MaximumBatchingWindowInSeconds"] == 1


def test_the_accounts_stream_has_two_readers_at_most(synthesized: Synthesized) -> None:
    """DynamoDB's recommended maximum of concurrent readers of a shard."""
    readers = [
        logical_id
        for logical_id, resource in synthesized.of_type("AWS::Lambda::EventSourceMapping").items()
        if resource["Properties"]["EventSourceArn"] == ACCOUNTS_STREAM
    ]

    assert sorted(readers) == sorted(
        [names.ACCOUNTS_STREAM_MAPPING_LOGICAL_ID, names.NOTIFY_ACCOUNTS_STREAM_MAPPING_LOGICAL_ID]
    )


def test_the_mapping_waits_for_the_stream_read_policy_and_the_role(
    synthesized: Synthesized,
) -> None:
    role = synthesized.role_id(names.NOTIFY)
    (stream_policy,) = [
        logical_id
        for logical_id, policy in synthesized.of_type("AWS::IAM::Policy").items()
        if {"Ref": role} in policy["Properties"]["Roles"]
        and any(
            "dynamodb:GetRecords" in actions_of(statement)
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        )
    ]

    depends_on = synthesized.resources[names.NOTIFY_ACCOUNTS_STREAM_MAPPING_LOGICAL_ID]["DependsOn"]

    assert stream_policy in depends_on
    assert role in depends_on


# ----------------------------------------------------------------------- the failure queue


def test_the_failure_queue_is_encrypted_retained_and_tls_only(synthesized: Synthesized) -> None:
    properties = protected_queue(synthesized, names.NOTIFY_FAILURE_QUEUE_LOGICAL_ID)

    assert properties["MessageRetentionPeriod"] == 14 * 24 * 3600


def _alarms(synthesized: Synthesized, metric: str) -> list[dict[str, Any]]:
    return [
        alarm["Properties"]
        for alarm in synthesized.of_type("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == metric
    ]


def test_a_record_in_the_failure_queue_raises_an_alarm(synthesized: Synthesized) -> None:
    (alarm,) = [
        alarm
        for alarm in _alarms(synthesized, "ApproximateNumberOfMessagesVisible")
        if alarm["Dimensions"]
        == [
            {
                "Name": "QueueName",
                "Value": get_att(names.NOTIFY_FAILURE_QUEUE_LOGICAL_ID, "QueueName"),
            }
        ]
    ]

    assert alarm["Threshold"] == 0
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_an_iterator_age_above_a_minute_raises_an_alarm(synthesized: Synthesized) -> None:
    (alarm,) = [
        alarm
        for alarm in _alarms(synthesized, "IteratorAge")
        if alarm["Dimensions"] == [{"Name": "FunctionName", "Value": FUNCTION}]
    ]

    assert alarm["Statistic"] == "Maximum"
    assert alarm["Threshold"] == 60_000


# ----------------------------------------------------------------------- the role


def test_notify_reads_the_accounts_stream_and_claims_and_marks_notices_only(
    synthesized: Synthesized,
) -> None:
    """The stream's images carry the account: no read of the accounts table, no Scan or
    DeleteItem anywhere."""
    dynamodb = granted(synthesized, names.NOTIFY, "dynamodb:")

    assert {action: as_set(resources) for action, resources in dynamodb.items()} == {
        "dynamodb:DescribeStream": as_set([ACCOUNTS_STREAM]),
        "dynamodb:GetRecords": as_set([ACCOUNTS_STREAM]),
        "dynamodb:GetShardIterator": as_set([ACCOUNTS_STREAM]),
        "dynamodb:ListStreams": as_set(["*"]),  # no resource-level permissions
        "dynamodb:GetItem": as_set([NOTICES]),
        "dynamodb:UpdateItem": as_set([NOTICES]),
    }


def test_notify_sends_to_its_failure_queue_and_the_unpublished_events_queue_only(
    synthesized: Synthesized,
) -> None:
    """Records given up on go to its failure queue; announcements the bus refuses, to the
    unpublished events queue."""
    sqs = granted(synthesized, names.NOTIFY, "sqs:")

    assert {action: as_set(resources) for action, resources in sqs.items()} == {
        "sqs:SendMessage": as_set([FAILURE_QUEUE, UNPUBLISHED_QUEUE]),
        "sqs:GetQueueAttributes": as_set([FAILURE_QUEUE]),
        "sqs:GetQueueUrl": as_set([FAILURE_QUEUE]),
    }


def test_notify_publishes_to_the_billing_bus_only(synthesized: Synthesized) -> None:
    assert granted(synthesized, names.NOTIFY, "events:") == {
        "events:PutEvents": [get_att(names.EVENT_BUS_LOGICAL_ID)]
    }


def test_notify_uses_dynamodb_ses_the_bus_its_queues_logs_and_tracing_only(
    synthesized: Synthesized,
) -> None:
    services = {
        action.split(":")[0]
        for statement in synthesized.role_statements(names.NOTIFY)
        for action in actions_of(statement)
    }

    assert services == {"dynamodb", "events", "logs", "ses", "sqs", "xray"}


@pytest.mark.parametrize("function_name", NOTICE_SENDERS)
def test_a_sender_of_notices_may_get_put_and_update_notices_only(
    synthesized: Synthesized, function_name: str
) -> None:
    on_notices = {
        action
        for action, resources in granted(synthesized, function_name, "dynamodb:").items()
        if NOTICES in resources
    }

    assert on_notices == {"dynamodb:GetItem", "dynamodb:UpdateItem"}


@pytest.mark.parametrize("function_name", NOTICE_SENDERS)
def test_a_sender_of_notices_may_send_from_the_senders_domain_with_the_configuration_set_only(
    synthesized: Synthesized, function_name: str
) -> None:
    ses = granted(synthesized, function_name, "ses:")

    assert set(ses) == {"ses:SendEmail", "ses:SendRawEmail"}
    for resources in ses.values():
        identity, configuration_set = (resource["Fn::Join"][1] for resource in resources)
        assert identity[:2] == ["arn:", {"Ref": "AWS::Partition"}]
        assert identity[-2:] == [":identity/", SENDER_DOMAIN]
        assert configuration_set[-2:] == [
            ":configuration-set/",
            {"Ref": names.INVOICE_EMAILS_LOGICAL_ID},
        ]


def test_only_the_senders_of_notices_touch_the_notices_table(synthesized: Synthesized) -> None:
    touching = {
        function_name
        for function_name in names.FUNCTION_LOGICAL_IDS
        if any(
            NOTICES in resources
            for resources in granted(synthesized, function_name, "dynamodb:").values()
        )
    }

    assert touching == set(NOTICE_SENDERS)


def test_notify_may_not_read_or_write_accounts(synthesized: Synthesized) -> None:
    dynamodb = granted(synthesized, names.NOTIFY, "dynamodb:")

    assert all(ACCOUNTS not in resources for resources in dynamodb.values())
    assert {
        action for action, resources in dynamodb.items() if ACCOUNTS_STREAM in resources
    } == set(STREAM_READS)
