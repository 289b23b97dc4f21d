"""grace_check (R9, R10): an hourly schedule, the sparse grace index it reads instead of
scanning, and a role granted that and nothing more."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.adapters.settings import GraceCheckSettings
from infra import names
from tests.infra.support import (
    Synthesized,
    actions_of,
    as_set,
    get_att,
    granted,
    index,
    resources_of,
)

FUNCTION = {"Ref": names.FUNCTION_LOGICAL_IDS[names.GRACE_CHECK]}
FUNCTION_ARN = get_att(names.FUNCTION_LOGICAL_IDS[names.GRACE_CHECK])
DLQ = get_att(names.GRACE_CHECK_DEAD_LETTER_QUEUE_LOGICAL_ID)
UNPUBLISHED = get_att(names.UNPUBLISHED_EVENTS_QUEUE_LOGICAL_ID)  # what the bus refuses
ACCOUNTS = get_att(names.TABLE_LOGICAL_IDS["accounts"])
LEDGER = get_att(names.TABLE_LOGICAL_IDS["ledger"])
INVOICES = get_att(names.TABLE_LOGICAL_IDS["invoices"])
NOTICES = get_att(names.TABLE_LOGICAL_IDS["notices"])
SECRET = {"Ref": names.STRIPE_SECRET_LOGICAL_ID}


@pytest.fixture(scope="module")
def schedule(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.properties(names.GRACE_CHECK_SCHEDULE_LOGICAL_ID)


def test_the_environment_is_exactly_what_the_settings_read(synthesized: Synthesized) -> None:
    variables = synthesized.function(names.GRACE_CHECK)["Environment"]["Variables"]
    declared = {field.alias for field in GraceCheckSettings.model_fields.values()}

    assert {name for name in variables if not name.startswith(("POWERTOOLS_", "LOG_"))} == (
        declared
    )
    assert variables["ACCOUNTS_TABLE"] == {"Ref": names.TABLE_LOGICAL_IDS["accounts"]}
    assert variables["LEDGER_TABLE"] == {"Ref": names.TABLE_LOGICAL_IDS["ledger"]}
    assert variables["INVOICES_TABLE"] == {"Ref": names.TABLE_LOGICAL_IDS["invoices"]}
    assert variables["EVENT_BUS_NAME"] == {"Ref": names.EVENT_BUS_LOGICAL_ID}
    assert variables["STRIPE_SECRET_NAME"] == SECRET
    # R14: the reminders before the grace end.
    assert variables["NOTICES_TABLE"] == {"Ref": names.TABLE_LOGICAL_IDS["notices"]}
    assert variables["EMAIL_SENDER"] == {"Ref": names.EMAIL_SENDER_PARAMETER}
    assert variables["EMAIL_CONFIGURATION_SET"] == {"Ref": names.INVOICE_EMAILS_LOGICAL_ID}


def test_one_schedule_runs_the_check_every_hour(
    synthesized: Synthesized, schedule: dict[str, Any]
) -> None:
    targets = [
        props["Target"]["Arn"]
        for props in (
            resource["Properties"]
            for resource in synthesized.of_type("AWS::Scheduler::Schedule").values()
        )
    ]

    assert targets.count(FUNCTION_ARN) == 1
    assert schedule["ScheduleExpression"] == "rate(1 hour)"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["State"] == "ENABLED"


def test_the_schedule_tells_the_function_its_run_retries_and_dead_letters(
    schedule: dict[str, Any],
) -> None:
    target = schedule["Target"]

    assert target["Arn"] == FUNCTION_ARN
    assert json.loads(target["Input"]) == {"run": "grace_check"}
    assert target["RoleArn"] == get_att(names.GRACE_CHECK_SCHEDULER_ROLE_LOGICAL_ID)
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}
    assert target["DeadLetterConfig"] == {"Arn": DLQ}


def test_the_schedules_role_may_invoke_grace_check_and_dead_letter_only(
    synthesized: Synthesized,
) -> None:
    role_id = names.GRACE_CHECK_SCHEDULER_ROLE_LOGICAL_ID
    role = synthesized.properties(role_id)
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    statements = [
        statement
        for policy in synthesized.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]

    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert "ManagedPolicyArns" not in role
    assert sorted(
        (action, json.dumps(resource, sort_keys=True))
        for statement in statements
        for action in actions_of(statement)
        for resource in resources_of(statement)
    ) == sorted(
        [
            ("lambda:InvokeFunction", json.dumps(FUNCTION_ARN, sort_keys=True)),
            ("sqs:SendMessage", json.dumps(DLQ, sort_keys=True)),
        ]
    )


def test_a_run_that_fails_in_the_function_is_retried_then_dead_lettered(
    synthesized: Synthesized,
) -> None:
    (config,) = [
        config
        for config in synthesized.of_type("AWS::Lambda::EventInvokeConfig").values()
        if config["Properties"]["FunctionName"] == FUNCTION
    ]

    assert config["Properties"]["MaximumRetryAttempts"] == 2
    assert config["Properties"]["MaximumEventAgeInSeconds"] == 3600
    assert config["Properties"]["DestinationConfig"] == {"OnFailure": {"Destination": DLQ}}


def test_the_dead_letter_queue_is_alarmed(synthesized: Synthesized) -> None:
    dimensions = [
        alarm["Properties"]["Dimensions"]
        for alarm in synthesized.of_type("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    ]

    assert [
        {
            "Name": "QueueName",
            "Value": get_att(names.GRACE_CHECK_DEAD_LETTER_QUEUE_LOGICAL_ID, "QueueName"),
        }
    ] in dimensions


def test_the_function_queries_two_indexes_and_writes_items_only(
    synthesized: Synthesized,
) -> None:
    dynamodb = granted(synthesized, names.GRACE_CHECK, "dynamodb:")

    assert {action: as_set(resources) for action, resources in dynamodb.items()} == {
        "dynamodb:Query": as_set([index(ACCOUNTS, "grace"), index(INVOICES, "by_contractor")]),
        "dynamodb:GetItem": as_set([ACCOUNTS, INVOICES, NOTICES]),
        "dynamodb:UpdateItem": as_set([ACCOUNTS, INVOICES, NOTICES]),
        "dynamodb:PutItem": as_set([LEDGER]),
    }


def test_the_function_uses_dynamodb_the_bus_the_stripe_secret_ses_and_its_dead_letters_only(
    synthesized: Synthesized,
) -> None:
    services = {
        action.split(":")[0]
        for statement in synthesized.role_statements(names.GRACE_CHECK)
        for action in actions_of(statement)
    }

    assert services == {"dynamodb", "events", "logs", "secretsmanager", "ses", "sqs", "xray"}
    assert granted(synthesized, names.GRACE_CHECK, "events:") == {
        "events:PutEvents": [get_att(names.EVENT_BUS_LOGICAL_ID)]
    }
    secrets = granted(synthesized, names.GRACE_CHECK, "secretsmanager:")
    assert {resource for resources in secrets.values() for resource in as_set(resources)} == (
        as_set([SECRET])
    )
    sqs = granted(synthesized, names.GRACE_CHECK, "sqs:")
    assert {resource for resources in sqs.values() for resource in as_set(resources)} == (
        as_set([DLQ, UNPUBLISHED])
    )


def test_the_grace_index_is_sparse_and_keyed_by_the_grace_end(synthesized: Synthesized) -> None:
    table = synthesized.properties(names.TABLE_LOGICAL_IDS["accounts"])
    (grace,) = [index for index in table["GlobalSecondaryIndexes"] if index["IndexName"] == "grace"]

    assert grace["KeySchema"] == [
        {"AttributeName": "grace_shard", "KeyType": "HASH"},
        {"AttributeName": "grace_ends_at", "KeyType": "RANGE"},
    ]
    assert grace["Projection"] == {"ProjectionType": "KEYS_ONLY"}
