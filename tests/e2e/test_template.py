"""Reading the synthesized template: intrinsic functions, table definitions, and what
the local stack derives from the template (functions, mappings, schedules, rules, routes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.provision import (
    Provisioner,
    key_schema_signature,
    match_table_models,
    model_signatures,
    table_create_args,
)
from local.runtime import function_environment
from local.specs import SpecReader, function_name_from_arn
from local.template import Resolver, Template, TemplateError, friendly_name
from tests.e2e.conftest import FIXTURE_TEMPLATE

pytestmark = pytest.mark.e2e

STREAM_ARN = (
    "arn:aws:dynamodb:us-east-1:123456789012:table/LocalFixture-leads/stream/2025-01-01T00:00:00"
)


def template_of(resources: dict, **sections) -> Template:
    return Template(
        path=Path("Test.template.json"),
        stack_name="Test",
        body={"Resources": resources, **sections},
    )


@pytest.fixture
def resolver() -> Resolver:
    template = template_of(
        {
            "Table": {"Type": "AWS::DynamoDB::Table"},
            "Queue": {"Type": "AWS::SQS::Queue"},
            "Alarm": {"Type": "AWS::CloudWatch::Alarm"},
        },
        Parameters={
            "Stage": {"Type": "String", "Default": "dev"},
            "NoDefault": {"Type": "String"},
            "Sender": {"Type": "String", "Default": "billing@example.com"},
            "Zones": {"Type": "CommaDelimitedList", "Default": "a, b"},
            "Version": {
                "Type": "AWS::SSM::Parameter::Value<String>",
                "Default": "/cdk-bootstrap/hnb659fds/version",
            },
        },
        Conditions={
            "IsDev": {"Fn::Equals": [{"Ref": "Stage"}, "dev"]},
            "IsProd": {"Fn::Not": [{"Condition": "IsDev"}]},
        },
    )
    resolver = Resolver(template)
    resolver.register("Table", "Test-Table", Arn="arn:table", StreamArn="arn:table/stream/x")
    resolver.register("Queue", "http://q/Test-Queue", Arn="arn:q", QueueName="Test-Queue")
    return resolver


def test_ref_and_get_att_resolve_to_local_values(resolver):
    assert resolver.resolve({"Ref": "Table"}, "x") == "Test-Table"
    assert resolver.resolve({"Fn::GetAtt": ["Table", "StreamArn"]}, "x") == "arn:table/stream/x"
    assert resolver.resolve({"Fn::GetAtt": "Queue.QueueName"}, "x") == "Test-Queue"
    assert resolver.resolve({"Ref": "AWS::Region"}, "x") == "us-east-1"
    assert resolver.resolve({"Ref": "AWS::StackName"}, "x") == "Test"
    assert resolver.resolve({"Ref": "Stage"}, "x") == "dev"


def test_a_parameter_takes_its_default_as_a_deployment_that_does_not_set_it(resolver):
    assert resolver.resolve({"Ref": "Sender"}, "x") == "billing@example.com"
    assert resolver.resolve({"Fn::Select": [1, {"Fn::Split": ["@", {"Ref": "Sender"}]}]}, "x") == (
        "example.com"
    )
    assert resolver.resolve({"Fn::Sub": "from ${Sender}"}, "x") == "from billing@example.com"
    assert resolver.resolve({"Ref": "Zones"}, "x") == ["a", "b"]


def test_join_sub_select_split(resolver):
    assert (
        resolver.resolve({"Fn::Join": ["-", [{"Ref": "AWS::StackName"}, "bus", 1]]}, "x")
        == "Test-bus-1"
    )
    assert resolver.resolve(
        {"Fn::Sub": "${Table}|${Queue.Arn}|${AWS::AccountId}|${!Literal}"}, "x"
    ) == ("Test-Table|arn:q|123456789012|${Literal}")
    assert resolver.resolve({"Fn::Sub": ["${Name}-${Stage}", {"Name": {"Ref": "Table"}}]}, "x") == (
        "Test-Table-dev"
    )
    assert resolver.resolve({"Fn::Select": [1, {"Fn::Split": ["/", "a/b/c"]}]}, "x") == "b"


def test_conditions_and_no_value(resolver):
    value = {
        "A": {"Fn::If": ["IsDev", "dev-value", "prod-value"]},
        "B": {"Fn::If": ["IsProd", "x", {"Ref": "AWS::NoValue"}]},
        "C": [1, {"Ref": "AWS::NoValue"}, 2],
    }
    assert resolver.resolve(value, "x") == {"A": "dev-value", "C": [1, 2]}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"Ref": "Alarm"}, "AWS::CloudWatch::Alarm"),
        ({"Fn::GetAtt": ["Table", "Nope"]}, "Table.Nope"),
        ({"Fn::GetAtt": ["Missing", "Arn"]}, "unknown resource"),
        ({"Ref": "Missing"}, "unknown"),
        ({"Ref": "NoDefault"}, "no default"),
        ({"Ref": "Version"}, "read from SSM"),
        ({"Fn::ImportValue": "Shared-Export"}, "Fn::ImportValue"),
        (
            {"Fn::Join": ["", [{"Fn::GetAtt": ["Queue", "Arn"]}, ["nested list"]]]},
            "expected a string",
        ),
    ],
)
def test_what_cannot_be_resolved_fails_loudly_with_its_place(resolver, value, message):
    with pytest.raises(TemplateError, match=message) as raised:
        resolver.resolve({"Variables": {"X": value}}, "Fn.Properties")
    assert "Fn.Properties.Variables.X" in str(raised.value)


def test_friendly_names_come_from_the_cdk_path_or_drop_the_hash():
    assert friendly_name(
        "AccountsTable3C4B5D6E", {"Metadata": {"aws:cdk:path": "S/Accounts/Resource"}}
    ) == ("Accounts")
    assert friendly_name("QuarantineQueue3C4B5D6E") == "QuarantineQueue"
    assert friendly_name("Plain") == "Plain"


# ----------------------------------------------------------------------- tables


def test_table_create_args_keep_keys_indexes_and_stream():
    template = Template.load(FIXTURE_TEMPLATE)
    ledger = table_create_args(template.properties("LedgerTableA1B2C3D4"), "Ledger")
    assert ledger["KeySchema"] == [
        {"AttributeName": "contractor_id", "KeyType": "HASH"},
        {"AttributeName": "entry_id", "KeyType": "RANGE"},
    ]
    assert ledger["LocalSecondaryIndexes"][0]["IndexName"] == "chronological"
    assert ledger["BillingMode"] == "PAY_PER_REQUEST"
    assert "StreamSpecification" not in ledger
    accounts = table_create_args(template.properties("AccountsTable3C4B5D6E"), "Accounts")
    assert accounts["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }


def test_provisioned_tables_and_global_indexes_get_throughput():
    props = {
        "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}],
        "BillingMode": "PROVISIONED",
        "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "g",
                "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        "StreamSpecification": {"StreamEnabled": False, "StreamViewType": "NEW_IMAGE"},
    }
    args = table_create_args(props, "T")
    assert args["ProvisionedThroughput"] == {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}
    assert "ProvisionedThroughput" in args["GlobalSecondaryIndexes"][0]
    assert "StreamSpecification" not in args


def test_each_table_model_is_matched_to_the_template_table_with_its_key():
    template = Template.load(FIXTURE_TEMPLATE)
    tables = {lid: template.properties(lid) for lid, _ in template.of_type("AWS::DynamoDB::Table")}
    assert match_table_models(tables, model_signatures()) == {
        "accounts": "AccountsTable3C4B5D6E",
        "ledger": "LedgerTableA1B2C3D4",
        "leads": "IncomingLeads",
        "quarantine": "QuarantineTable",
    }


def test_tables_with_the_same_key_are_told_apart_by_their_logical_id():
    key = {
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
    }
    signature = key_schema_signature(key)
    models = {"accounts": signature, "leads": signature}
    assert match_table_models({"LeadsTable1": key, "AccountsTable2": key}, models) == {
        "accounts": "AccountsTable2",
        "leads": "LeadsTable1",
    }


# ----------------------------------------------------------------------- specs


@pytest.fixture
def reader() -> SpecReader:
    template = Template.load(FIXTURE_TEMPLATE)
    resolver = Resolver(template)
    Provisioner(template, resolver, "http://127.0.0.1:9").register_names()
    for logical_id in ("AccountsTable3C4B5D6E", "LedgerTableA1B2C3D4", "QuarantineTable"):
        resolver.register(logical_id, f"LocalFixture-{logical_id}", Arn=f"arn:{logical_id}")
    resolver.register("IncomingLeads", "LocalFixture-leads", Arn="arn:leads", StreamArn=STREAM_ARN)
    for logical_id in (
        "StreamFailures",
        "QuarantineDeadLetters",
        "QuarantineQueue",
        "WorkDeadLetters",
        "WorkQueue",
    ):
        resolver.register(
            logical_id,
            f"http://q/LocalFixture-{logical_id}",
            Arn=f"arn:aws:sqs:us-east-1:123456789012:LocalFixture-{logical_id}",
        )
    resolver.register(
        "BillingBus", "LocalFixture-billing", Arn="arn:bus", Name="LocalFixture-billing"
    )
    return SpecReader(template, resolver, Path(__file__).resolve().parents[2])


def test_functions_are_this_repositorys_python_handlers_with_resolved_environments(reader):
    functions = {spec.logical_id: spec for spec in reader.functions()}
    assert set(functions) == {
        "ApiFunction",
        "OnLeadFunction",
        "OnEventFunction",
        "WeeklyFunction",
        "ChoresFunction",
        "WorkFunction",
    }
    on_lead = functions["OnLeadFunction"]
    assert on_lead.name == "LocalFixture-OnLeadFunction"
    assert (
        on_lead.arn == "arn:aws:lambda:us-east-1:123456789012:function:LocalFixture-OnLeadFunction"
    )
    assert on_lead.environment == {
        "ACCOUNTS_TABLE": "LocalFixture-AccountsTable3C4B5D6E",
        "LEDGER_TABLE": "LocalFixture-LedgerTableA1B2C3D4",
        "QUARANTINE_TABLE": "LocalFixture-QuarantineTable",
        "QUARANTINE_QUEUE_URL": "http://q/LocalFixture-QuarantineQueue",
        "EVENT_BUS_NAME": "LocalFixture-billing",
        "LEADS_STREAM_ARN": STREAM_ARN,
    }
    assert on_lead.timeout_s == 30 and on_lead.memory_mb == 128
    assert any("LogRetentionProvider" in note for note in reader.notes)


def test_the_function_environment_is_the_templates_plus_the_local_endpoint(reader):
    api = next(spec for spec in reader.functions() if spec.logical_id == "ApiFunction")
    env = function_environment(api, "http://127.0.0.1:5001", Path("/repo"))
    assert env["ACCOUNTS_TABLE"] == "LocalFixture-AccountsTable3C4B5D6E"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "LeadBilling"
    assert env["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5001"
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert not [key for key in env if key.startswith(("LOCAL_", "PYTEST", "VIRTUAL_ENV"))]


def test_the_stream_mapping_keeps_filters_batching_retries_and_destination(reader):
    (mapping,) = reader.stream_mappings({STREAM_ARN: "IncomingLeads"})
    assert mapping.function == "OnLeadFunction"
    assert mapping.table == "IncomingLeads"
    assert mapping.batch_size == 10
    assert mapping.report_batch_item_failures
    assert mapping.maximum_retry_attempts == 2
    assert mapping.bisect_on_error
    assert (
        mapping.on_failure_arn == "arn:aws:sqs:us-east-1:123456789012:LocalFixture-StreamFailures"
    )
    (pattern,) = mapping.filters
    assert pattern.matches(
        {"eventName": "INSERT", "dynamodb": {"NewImage": {"category": {"S": "roofing"}}}}
    )
    assert not pattern.matches(
        {"eventName": "INSERT", "dynamodb": {"NewImage": {"category": {"S": "test"}}}}
    )


def test_a_filter_on_a_key_stream_records_do_not_have_is_reported(reader):
    body = dict(reader.template.body)
    resources = dict(body["Resources"])
    mapping = dict(resources["OnLeadMapping"])
    mapping["Properties"] = {
        **mapping["Properties"],
        "FilterCriteria": {"Filters": [{"Pattern": '{"event_name": ["INSERT"]}'}]},
    }
    resources["OnLeadMapping"] = mapping
    reader.template = Template(
        reader.template.path, reader.template.stack_name, {**body, "Resources": resources}
    )
    reader.stream_mappings({STREAM_ARN: "IncomingLeads"})
    assert any("'event_name'" in note and "never matches" in note for note in reader.notes)


def test_the_queue_mapping_keeps_batching_concurrency_filters_and_redrive(reader):
    (mapping,) = reader.queue_mappings()
    assert mapping.function == "WorkFunction"
    assert mapping.queue == "WorkQueue"
    assert mapping.queue_url == "http://q/LocalFixture-WorkQueue"
    assert mapping.queue_arn == "arn:aws:sqs:us-east-1:123456789012:LocalFixture-WorkQueue"
    assert mapping.batch_size == 3
    assert mapping.maximum_concurrency == 2
    assert mapping.report_batch_item_failures
    assert mapping.max_receive_count == 2
    assert not mapping.fifo
    (pattern,) = mapping.filters
    assert pattern.matches({"body": {"kind": "work"}})
    assert not pattern.matches({"body": {"kind": "noise"}})
    # Stream mappings do not take queue mappings for ones they cannot run.
    reader.stream_mappings({STREAM_ARN: "IncomingLeads"})
    assert not [note for note in reader.notes if "WorkMapping" in note]


def test_schedules_and_event_rules(reader):
    (weekly,) = reader.schedules()
    assert weekly.function == "WeeklyFunction"
    assert weekly.timezone == "America/Chicago"
    assert weekly.expression.text == "cron(0 0 ? * FRI *)"
    (rule,) = reader.event_rules({"LocalFixture-billing": "LocalFixture-billing"})
    assert rule.bus_name == "LocalFixture-billing"
    assert [(t.kind, t.destination) for t in rule.targets] == [("lambda", "OnEventFunction")]


def test_routes_follow_resource_parents_to_full_paths(reader):
    routes = {(r.method, r.resource_path): r for r in reader.routes()}
    assert set(routes) == {
        ("POST", "/admin/accounts"),
        ("GET", "/admin/accounts/{contractor_id}"),
        ("GET", "/me"),
        ("OPTIONS", "/me"),
        ("GET", "/debug/env"),
    }
    assert routes[("POST", "/admin/accounts")].authorization == "AWS_IAM"
    assert routes[("POST", "/admin/accounts")].function == "ApiFunction"
    assert routes[("GET", "/me")].scopes == ("billing/read",)
    assert routes[("GET", "/me")].stage == "v1"
    assert routes[("OPTIONS", "/me")].function is None
    assert routes[("OPTIONS", "/me")].mock_headers["Access-Control-Allow-Origin"] == "*"


def test_function_names_come_out_of_qualified_arns():
    arn = "arn:aws:lambda:us-east-1:123456789012:function:Name"
    assert function_name_from_arn(arn) == "Name"
    assert function_name_from_arn(f"{arn}:live") == "Name"
    assert function_name_from_arn("Name") == "Name"
    with pytest.raises(TemplateError):
        function_name_from_arn("arn:aws:sqs:us-east-1:123456789012:q")
