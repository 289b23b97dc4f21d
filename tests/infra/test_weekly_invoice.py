"""weekly_invoice (R3..R6): the Friday schedules of every billing timezone, the work queue it
fans out onto, the threshold trigger on the accounts stream, Stripe's secret and SES, each
granted to this function alone and no further than it needs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.adapters.settings import WeeklyInvoiceSettings
from functions.billing.invoices import BILLING_TIMEZONES
from infra import names, weekly_invoice
from tests.infra.support import (
    Synthesized,
    actions_of,
    as_set,
    get_att,
    granted,
    index,
    protected_queue,
    scheduler_role_grants,
)

FUNCTION = {"Ref": names.FUNCTION_LOGICAL_IDS[names.WEEKLY_INVOICE]}
FUNCTION_ARN = get_att(names.FUNCTION_LOGICAL_IDS[names.WEEKLY_INVOICE])
WORK_QUEUE = get_att(names.INVOICE_WORK_QUEUE_LOGICAL_ID)
WORK_DLQ = get_att(names.INVOICE_WORK_DEAD_LETTER_QUEUE_LOGICAL_ID)
FAILURE_QUEUE = get_att(names.WEEKLY_INVOICE_FAILURE_QUEUE_LOGICAL_ID)
ACCOUNTS = get_att(names.TABLE_LOGICAL_IDS["accounts"])
LEDGER = get_att(names.TABLE_LOGICAL_IDS["ledger"])
INVOICES = get_att(names.TABLE_LOGICAL_IDS["invoices"])
ACCOUNTS_STREAM = get_att(names.TABLE_LOGICAL_IDS["accounts"], "StreamArn")
SECRET = {"Ref": names.STRIPE_SECRET_LOGICAL_ID}


@pytest.fixture(scope="module")
def function(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.function(names.WEEKLY_INVOICE)


@pytest.fixture(scope="module")
def variables(function: dict[str, Any]) -> dict[str, Any]:
    return dict(function["Environment"]["Variables"])


# ----------------------------------------------------------------------- the function


def test_the_function_runs_two_minutes_with_512_mb(function: dict[str, Any]) -> None:
    assert function["Handler"] == "functions.weekly_invoice.handler.handler"
    assert function["Timeout"] == 120
    assert function["MemorySize"] == 512


def test_its_environment_is_exactly_what_weekly_invoice_settings_read(
    variables: dict[str, Any],
) -> None:
    declared = {field.alias for field in WeeklyInvoiceSettings.model_fields.values()}

    assert set(variables) - set(names.POWERTOOLS_ENVIRONMENT) == declared
    assert declared == {
        "ACCOUNTS_TABLE",
        "LEDGER_TABLE",
        "INVOICES_TABLE",
        "INVOICE_QUEUE_URL",
        "EVENT_BUS_NAME",
        "UNPUBLISHED_EVENTS_QUEUE_URL",
        "STRIPE_SECRET_NAME",
        "EMAIL_SENDER",
        "EMAIL_CONFIGURATION_SET",
        "DOCUMENTS_BUCKET",
        "STRIPE_REQUEST_INTERVAL_SECONDS",
    }


def test_its_environment_names_the_stacks_resources(variables: dict[str, Any]) -> None:
    assert variables["ACCOUNTS_TABLE"] == {"Ref": names.TABLE_LOGICAL_IDS["accounts"]}
    assert variables["LEDGER_TABLE"] == {"Ref": names.TABLE_LOGICAL_IDS["ledger"]}
    assert variables["INVOICES_TABLE"] == {"Ref": names.TABLE_LOGICAL_IDS["invoices"]}
    assert variables["INVOICE_QUEUE_URL"] == {"Ref": names.INVOICE_WORK_QUEUE_LOGICAL_ID}
    assert variables["EVENT_BUS_NAME"] == {"Ref": names.EVENT_BUS_LOGICAL_ID}
    # The secret's Ref is its ARN, which Powertools' get_secret takes as a name.
    assert variables["STRIPE_SECRET_NAME"] == SECRET
    assert variables["EMAIL_SENDER"] == {"Ref": names.EMAIL_SENDER_PARAMETER}
    assert variables["EMAIL_CONFIGURATION_SET"] == {"Ref": names.INVOICE_EMAILS_LOGICAL_ID}


# ----------------------------------------------------------------------- R3: Friday


@pytest.fixture(scope="module")
def schedules(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in synthesized.of_type("AWS::Scheduler::Schedule").items()
        if logical_id.startswith("WeeklyInvoiceSchedule")
    }


def test_schedule_logical_ids_come_from_the_timezone_name() -> None:
    assert (
        names.weekly_invoice_schedule_logical_id("America/Los_Angeles")
        == "WeeklyInvoiceScheduleAmericaLosAngeles"
    )
    ids = {names.weekly_invoice_schedule_logical_id(zone) for zone in BILLING_TIMEZONES}
    assert len(ids) == len(BILLING_TIMEZONES)


def test_there_is_one_friday_schedule_per_billing_timezone(
    schedules: dict[str, dict[str, Any]],
) -> None:
    assert set(schedules) == {
        names.weekly_invoice_schedule_logical_id(zone) for zone in BILLING_TIMEZONES
    }


@pytest.mark.parametrize("timezone", BILLING_TIMEZONES)
def test_each_schedule_runs_at_6_on_friday_in_its_timezone(
    schedules: dict[str, dict[str, Any]], timezone: str
) -> None:
    schedule = schedules[names.weekly_invoice_schedule_logical_id(timezone)]

    assert schedule["ScheduleExpression"] == "cron(0 6 ? * FRI *)"
    assert schedule["ScheduleExpressionTimezone"] == timezone
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["State"] == "ENABLED"


@pytest.mark.parametrize("timezone", BILLING_TIMEZONES)
def test_each_schedule_tells_the_function_its_run_and_timezone(
    schedules: dict[str, dict[str, Any]], timezone: str
) -> None:
    target = schedules[names.weekly_invoice_schedule_logical_id(timezone)]["Target"]

    assert target["Arn"] == FUNCTION_ARN
    assert json.loads(target["Input"]) == {"run": "weekly", "timezone": timezone}
    assert target["RoleArn"] == get_att(names.WEEKLY_INVOICE_SCHEDULER_ROLE_LOGICAL_ID)


@pytest.mark.parametrize("timezone", BILLING_TIMEZONES)
def test_a_schedule_that_cannot_invoke_retries_then_dead_letters(
    schedules: dict[str, dict[str, Any]], timezone: str
) -> None:
    target = schedules[names.weekly_invoice_schedule_logical_id(timezone)]["Target"]

    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}
    assert target["DeadLetterConfig"] == {"Arn": WORK_DLQ}


def test_the_schedules_role_may_invoke_weekly_invoice_and_dead_letter_only(
    synthesized: Synthesized,
) -> None:
    role_id = names.WEEKLY_INVOICE_SCHEDULER_ROLE_LOGICAL_ID

    assert scheduler_role_grants(synthesized, role_id) == sorted(
        [
            ("lambda:InvokeFunction", json.dumps(FUNCTION_ARN, sort_keys=True)),
            ("sqs:SendMessage", json.dumps(WORK_DLQ, sort_keys=True)),
        ]
    )


def test_a_friday_run_that_fails_in_the_function_is_retried_then_dead_lettered(
    synthesized: Synthesized,
) -> None:
    (config,) = [
        config
        for config in synthesized.of_type("AWS::Lambda::EventInvokeConfig").values()
        if config["Properties"]["FunctionName"] == FUNCTION
    ]

    assert config["Properties"]["FunctionName"] == FUNCTION
    assert config["Properties"]["MaximumRetryAttempts"] == 2
    assert config["Properties"]["MaximumEventAgeInSeconds"] == 3600
    assert config["Properties"]["DestinationConfig"] == {"OnFailure": {"Destination": WORK_DLQ}}


# ----------------------------------------------------------------------- the work queue


@pytest.fixture(scope="module")
def work_mapping(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.properties(names.INVOICE_WORK_MAPPING_LOGICAL_ID)


def test_the_work_queue_hides_a_message_for_six_function_timeouts(
    synthesized: Synthesized,
) -> None:
    queue = synthesized.properties(names.INVOICE_WORK_QUEUE_LOGICAL_ID)

    assert queue["VisibilityTimeout"] == 6 * 120


def test_work_that_fails_five_receives_goes_to_the_dead_letter_queue(
    synthesized: Synthesized,
) -> None:
    queue = synthesized.properties(names.INVOICE_WORK_QUEUE_LOGICAL_ID)
    dead_letters = synthesized.properties(names.INVOICE_WORK_DEAD_LETTER_QUEUE_LOGICAL_ID)

    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": WORK_DLQ, "maxReceiveCount": 5}
    # A standard queue keeps a message's first enqueue time in its dead-letter queue.
    assert dead_letters["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]


@pytest.mark.parametrize(
    "queue",
    [
        names.INVOICE_WORK_QUEUE_LOGICAL_ID,
        names.INVOICE_WORK_DEAD_LETTER_QUEUE_LOGICAL_ID,
        names.WEEKLY_INVOICE_FAILURE_QUEUE_LOGICAL_ID,
    ],
)
def test_invoice_queues_are_encrypted_retained_and_tls_only(
    synthesized: Synthesized, queue: str
) -> None:
    protected_queue(synthesized, queue)


def test_the_function_consumes_the_work_queue_in_batches_of_10(
    work_mapping: dict[str, Any],
) -> None:
    assert work_mapping["EventSourceArn"] == WORK_QUEUE
    assert work_mapping["FunctionName"] == FUNCTION
    assert work_mapping["BatchSize"] == 10
    assert work_mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_the_work_batches_at_once_paced_stay_within_the_fridays_share_of_stripes_limit(
    work_mapping: dict[str, Any], variables: dict[str, Any]
) -> None:
    # Given as many work batches at once as the mapping allows, each environment starting a
    # Stripe request at most once per the interval its environment names
    concurrency = work_mapping["ScalingConfig"]["MaximumConcurrency"]
    interval = float(variables["STRIPE_REQUEST_INTERVAL_SECONDS"])
    # Then, one request at most per place in any second, the Friday run never sends more
    # than its share of Stripe's live limit in a second, and leaves the rest to the others
    share = weekly_invoice.FRIDAY_STRIPE_REQUESTS_PER_SECOND
    assert interval >= 1.0
    assert concurrency == share == 75
    assert share < weekly_invoice.STRIPE_LIVE_REQUESTS_PER_SECOND


def test_the_function_fans_out_onto_and_consumes_the_work_queue_and_dead_letters_only(
    synthesized: Synthesized,
) -> None:
    sqs = granted(synthesized, names.WEEKLY_INVOICE, "sqs:")

    unpublished = get_att(names.UNPUBLISHED_EVENTS_QUEUE_LOGICAL_ID)  # what the bus refuses
    assert as_set(sqs["sqs:SendMessage"]) == as_set(
        [WORK_QUEUE, WORK_DLQ, FAILURE_QUEUE, unpublished]
    )
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"):
        assert sqs[action] == [WORK_QUEUE]


def test_the_work_mapping_waits_for_the_functions_permissions(synthesized: Synthesized) -> None:
    depends_on = synthesized.resources[names.INVOICE_WORK_MAPPING_LOGICAL_ID]["DependsOn"]

    assert synthesized.role_id(names.WEEKLY_INVOICE) in depends_on
    assert any(
        dependency.startswith("WeeklyInvoiceFunctionRoleDefaultPolicy") for dependency in depends_on
    )


# ----------------------------------------------------------------------- R4: threshold


@pytest.fixture(scope="module")
def stream_mapping(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.properties(names.ACCOUNTS_STREAM_MAPPING_LOGICAL_ID)


def test_the_threshold_trigger_reads_the_accounts_stream(stream_mapping: dict[str, Any]) -> None:
    assert stream_mapping["EventSourceArn"] == ACCOUNTS_STREAM
    assert stream_mapping["FunctionName"] == FUNCTION
    assert stream_mapping["StartingPosition"] == "TRIM_HORIZON"


def test_only_accounts_written_with_invoice_due_wake_the_function(
    stream_mapping: dict[str, Any],
) -> None:
    patterns = [json.loads(f["Pattern"]) for f in stream_mapping["FilterCriteria"]["Filters"]]

    assert patterns == [
        {
            "eventName": ["INSERT", "MODIFY"],
            "dynamodb": {"NewImage": {"invoice_due": {"BOOL": [True]}}},
        }
    ]


def test_a_failing_account_record_is_retried_then_sent_to_the_failure_queue(
    stream_mapping: dict[str, Any],
) -> None:
    assert stream_mapping["BatchSize"] == 10
    assert stream_mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert stream_mapping["BisectBatchOnFunctionError"] is True
    assert stream_mapping["MaximumRetryAttempts"] == 5
    assert stream_mapping["MaximumRecordAgeInSeconds"] == 3600
    assert stream_mapping["DestinationConfig"] == {"OnFailure": {"Destination": FAILURE_QUEUE}}


def test_the_function_may_read_the_accounts_stream_only(synthesized: Synthesized) -> None:
    dynamodb = granted(synthesized, names.WEEKLY_INVOICE, "dynamodb:")

    for action in ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"):
        assert dynamodb[action] == [ACCOUNTS_STREAM]
    assert dynamodb["dynamodb:ListStreams"] == ["*"]  # no resource-level permissions


def test_the_stream_mapping_waits_for_the_stream_read_policy(synthesized: Synthesized) -> None:
    role = {"Ref": synthesized.role_id(names.WEEKLY_INVOICE)}
    (stream_policy,) = [
        logical_id
        for logical_id, policy in synthesized.of_type("AWS::IAM::Policy").items()
        if role in policy["Properties"]["Roles"]
        and any(
            "dynamodb:GetRecords" in actions_of(statement)
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        )
    ]

    depends_on = synthesized.resources[names.ACCOUNTS_STREAM_MAPPING_LOGICAL_ID]["DependsOn"]

    assert stream_policy in depends_on


# ----------------------------------------------------------------------- tables, bus


def test_the_function_reads_and_writes_items_and_queries_the_indexes_it_needs(
    synthesized: Synthesized,
) -> None:
    dynamodb = {
        action: as_set(resources)
        for action, resources in granted(synthesized, names.WEEKLY_INVOICE, "dynamodb:").items()
        if action
        not in (
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
            "dynamodb:ListStreams",
        )
    }

    assert dynamodb == {
        "dynamodb:GetItem": as_set([ACCOUNTS, LEDGER, INVOICES]),
        "dynamodb:UpdateItem": as_set([ACCOUNTS, LEDGER, INVOICES]),
        "dynamodb:PutItem": as_set([LEDGER, INVOICES]),
        "dynamodb:Query": as_set([index(ACCOUNTS, "billable"), index(LEDGER, "unbilled")]),
    }


def test_the_function_publishes_to_the_billing_bus_only(synthesized: Synthesized) -> None:
    assert granted(synthesized, names.WEEKLY_INVOICE, "events:") == {
        "events:PutEvents": [get_att(names.EVENT_BUS_LOGICAL_ID)]
    }


def test_the_function_uses_only_the_services_it_needs(synthesized: Synthesized) -> None:
    services = {
        action.split(":")[0]
        for statement in synthesized.role_statements(names.WEEKLY_INVOICE)
        for action in actions_of(statement)
    }

    assert services == {
        "dynamodb",
        "events",
        "logs",
        "s3",
        "secretsmanager",
        "ses",
        "sqs",
        "xray",
    }


# ----------------------------------------------------------------------- Stripe's secret


def test_stripes_secret_holds_both_keys_as_json(synthesized: Synthesized) -> None:
    resource = synthesized.resources[names.STRIPE_SECRET_LOGICAL_ID]
    generate = resource["Properties"]["GenerateSecretString"]
    value = json.loads(generate["SecretStringTemplate"])

    assert resource["Type"] == "AWS::SecretsManager::Secret"
    assert {*value, generate["GenerateStringKey"]} == {"api_key", "webhook_secret"}
    assert "SecretString" not in resource["Properties"]  # no key in the template
    assert "KmsKeyId" not in resource["Properties"]  # the AWS managed key
    assert resource["DeletionPolicy"] == "Retain"


def test_the_functions_that_talk_to_stripe_may_read_stripes_secret_and_only_that_secret(
    synthesized: Synthesized,
) -> None:
    for function in (names.WEEKLY_INVOICE, names.API, names.CARD_UPDATED):
        assert granted(synthesized, function, "secretsmanager:") == {
            "secretsmanager:GetSecretValue": [SECRET]
        }
    assert granted(synthesized, names.ON_LEAD, "secretsmanager:") == {}


# ----------------------------------------------------------------------- SES


def test_the_sender_is_a_parameter_with_the_billing_address_by_default(
    synthesized: Synthesized,
) -> None:
    template = synthesized.template.to_json()
    parameter = template["Parameters"][names.EMAIL_SENDER_PARAMETER]

    assert parameter["Type"] == "String"
    assert parameter["Default"] == "billing@craftjack.com"


def test_invoice_emails_have_their_configuration_set(synthesized: Synthesized) -> None:
    resource = synthesized.resources[names.INVOICE_EMAILS_LOGICAL_ID]

    assert resource["Type"] == "AWS::SES::ConfigurationSet"
    assert resource["Properties"]["DeliveryOptions"] == {"TlsPolicy": "REQUIRE"}


def test_the_function_may_send_from_the_senders_domain_with_the_configuration_set_only(
    synthesized: Synthesized,
) -> None:
    ses = granted(synthesized, names.WEEKLY_INVOICE, "ses:")
    sender_domain = {"Fn::Select": [1, {"Fn::Split": ["@", {"Ref": names.EMAIL_SENDER_PARAMETER}]}]}

    assert set(ses) == {"ses:SendEmail", "ses:SendRawEmail"}
    for resources in ses.values():
        identity, configuration_set = (resource["Fn::Join"][1] for resource in resources)
        assert identity[-2:] == [":identity/", sender_domain]
        assert identity[:2] == ["arn:", {"Ref": "AWS::Partition"}]
        assert configuration_set[-2:] == [
            ":configuration-set/",
            {"Ref": names.INVOICE_EMAILS_LOGICAL_ID},
        ]
    for function in (names.ON_LEAD, names.API):
        assert granted(synthesized, function, "ses:") == {}


# ----------------------------------------------------------------------- alarms


def _alarms(synthesized: Synthesized, metric: str) -> list[dict[str, Any]]:
    return [
        alarm["Properties"]
        for alarm in synthesized.of_type("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == metric
    ]


@pytest.mark.parametrize(
    "queue",
    [
        names.INVOICE_WORK_DEAD_LETTER_QUEUE_LOGICAL_ID,
        names.WEEKLY_INVOICE_FAILURE_QUEUE_LOGICAL_ID,
    ],
)
def test_a_message_in_a_queue_of_invoices_not_issued_raises_an_alarm(
    synthesized: Synthesized, queue: str
) -> None:
    alarms = [
        alarm
        for alarm in _alarms(synthesized, "ApproximateNumberOfMessagesVisible")
        if alarm["Dimensions"] == [{"Name": "QueueName", "Value": get_att(queue, "QueueName")}]
    ]

    assert len(alarms) == 1
    assert alarms[0]["Threshold"] == 0
    assert alarms[0]["ComparisonOperator"] == "GreaterThanThreshold"


def test_an_accounts_stream_iterator_age_above_a_minute_raises_an_alarm(
    synthesized: Synthesized,
) -> None:
    alarms = [
        alarm
        for alarm in _alarms(synthesized, "IteratorAge")
        if alarm["Dimensions"] == [{"Name": "FunctionName", "Value": FUNCTION}]
    ]

    assert len(alarms) == 1
    assert alarms[0]["Statistic"] == "Maximum"
    assert alarms[0]["Threshold"] == 60_000
