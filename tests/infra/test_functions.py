"""Every function is built the same way, configured exactly as its settings class reads,
and runs its own code on the locked dependencies."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from functions.adapters.settings import (
    ApiSettings,
    BudgetResetSettings,
    CardUpdatedSettings,
    FunctionSettings,
    GraceCheckSettings,
    NotifySettings,
    OnLeadSettings,
    ReconcileSettings,
    RepublishSettings,
    WeeklyInvoiceSettings,
)
from infra import names
from infra.assets import CODE_SUFFIXES, REQUIREMENTS_LOCK, SHARED_PACKAGES, bytecode_tag
from tests.infra.support import Synthesized, get_att

SETTINGS: list[tuple[str, type[FunctionSettings]]] = [
    (names.ON_LEAD, OnLeadSettings),
    (names.API, ApiSettings),
    (names.WEEKLY_INVOICE, WeeklyInvoiceSettings),
    (names.CARD_UPDATED, CardUpdatedSettings),
    (names.BUDGET_RESET, BudgetResetSettings),
    (names.GRACE_CHECK, GraceCheckSettings),
    (names.NOTIFY, NotifySettings),
    (names.RECONCILE, ReconcileSettings),
    (names.REPUBLISH, RepublishSettings),
]
FUNCTIONS = [function for function, _ in SETTINGS]
POWERTOOLS_ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": "lead-billing",
    "POWERTOOLS_METRICS_NAMESPACE": "LeadBilling",
    "LOG_LEVEL": "INFO",
}


def _asset_dir(synthesized: Synthesized, s3_key: str) -> Path:
    return synthesized.outdir / f"asset.{s3_key.removesuffix('.zip')}"


def test_the_stack_has_the_billing_functions_only(synthesized: Synthesized) -> None:
    functions = synthesized.of_type("AWS::Lambda::Function")
    # Besides them, CDK's own handler that deploys the Lead Manager's page (infra/web.py).
    deployers = {
        logical_id for logical_id in functions if logical_id.startswith("CustomCDKBucketDeployment")
    }

    assert len(deployers) == 1
    assert set(functions) - deployers == {
        names.FUNCTION_LOGICAL_IDS[function] for function in FUNCTIONS
    }


@pytest.mark.parametrize(("function", "settings"), SETTINGS)
def test_function_environment_is_exactly_what_its_settings_read(
    synthesized: Synthesized, function: str, settings: type[FunctionSettings]
) -> None:
    variables = synthesized.function(function)["Environment"]["Variables"]
    declared = {field.alias for field in settings.model_fields.values()}

    assert set(variables) - set(POWERTOOLS_ENVIRONMENT) == declared
    assert {name: variables[name] for name in POWERTOOLS_ENVIRONMENT} == POWERTOOLS_ENVIRONMENT


@pytest.mark.parametrize("function", [f for f in FUNCTIONS if f != names.REPUBLISH])
def test_function_tables_are_the_stacks_tables(synthesized: Synthesized, function: str) -> None:
    variables = synthesized.function(function)["Environment"]["Variables"]

    assert variables["ACCOUNTS_TABLE"] == {"Ref": names.TABLE_LOGICAL_IDS["accounts"]}
    assert variables["LEDGER_TABLE"] == {"Ref": names.TABLE_LOGICAL_IDS["ledger"]}


def test_api_reads_invoices_and_stripes_keys_and_publishes_to_the_stacks_resources(
    synthesized: Synthesized,
) -> None:
    variables = synthesized.function(names.API)["Environment"]["Variables"]

    assert set(variables) - set(POWERTOOLS_ENVIRONMENT) == {
        "ACCOUNTS_TABLE",
        "LEDGER_TABLE",
        "INVOICES_TABLE",
        "STRIPE_SECRET_NAME",
        "EVENT_BUS_NAME",
        "UNPUBLISHED_EVENTS_QUEUE_URL",
        "DOCUMENTS_BUCKET",
    }
    assert variables["EVENT_BUS_NAME"] == {"Ref": names.EVENT_BUS_LOGICAL_ID}
    assert variables["INVOICES_TABLE"] == {"Ref": names.TABLE_LOGICAL_IDS["invoices"]}
    # The secret's Ref is its ARN, which Powertools' get_secret takes as a name.
    assert variables["STRIPE_SECRET_NAME"] == {"Ref": names.STRIPE_SECRET_LOGICAL_ID}


def test_on_lead_quarantines_and_publishes_to_the_stacks_resources(
    synthesized: Synthesized,
) -> None:
    variables = synthesized.function(names.ON_LEAD)["Environment"]["Variables"]

    assert variables["QUARANTINE_TABLE"] == {"Ref": names.TABLE_LOGICAL_IDS["quarantine"]}
    assert variables["QUARANTINE_QUEUE_URL"] == {"Ref": names.QUARANTINE_QUEUE_LOGICAL_ID}
    assert variables["EVENT_BUS_NAME"] == {"Ref": names.EVENT_BUS_LOGICAL_ID}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_runs_its_handler_on_python_3_12_arm_with_tracing(
    synthesized: Synthesized, function: str
) -> None:
    properties = synthesized.function(function)

    assert properties["Handler"] == f"functions.{function}.handler.handler"
    assert properties["Runtime"] == "python3.12"
    assert properties["Architectures"] == ["arm64"]
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert "FunctionName" not in properties


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_logs_json_to_its_own_log_group_with_retention(
    synthesized: Synthesized, function: str
) -> None:
    logging = synthesized.function(function)["LoggingConfig"]
    log_group = synthesized.resources[logging["LogGroup"]["Ref"]]

    assert logging["LogFormat"] == "JSON"
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] > 0
    assert any(
        statement["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
        and statement["Resource"] == get_att(logging["LogGroup"]["Ref"])
        for statement in synthesized.role_statements(function)
    )


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_failed_invocation_raises_an_alarm(synthesized: Synthesized, function: str) -> None:
    alarms = [
        alarm["Properties"]
        for alarm in synthesized.of_type("AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "Errors"
        and alarm["Properties"]["Dimensions"]
        == [{"Name": "FunctionName", "Value": {"Ref": names.FUNCTION_LOGICAL_IDS[function]}}]
    ]

    assert len(alarms) == 1
    assert alarms[0]["Threshold"] == 0
    assert alarms[0]["ComparisonOperator"] == "GreaterThanThreshold"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_code_is_its_own_package_and_the_shared_ones_only(
    synthesized: Synthesized, function: str
) -> None:
    asset = _asset_dir(synthesized, synthesized.function(function)["Code"]["S3Key"])
    files = [path.relative_to(asset) for path in asset.rglob("*") if path.is_file()]
    allowed = {*SHARED_PACKAGES, function}

    assert Path("functions/__init__.py") in files
    assert Path("functions/adapters/settings.py") in files
    # Modules and templates, and the modules' bytecode for the runtime's Python when the
    # build found one (``infra/assets.py``).
    bytecode = f".{bytecode_tag()}.pyc"
    assert all(
        path.suffix in CODE_SUFFIXES
        or (path.parent.name == "__pycache__" and path.name.endswith(bytecode))
        for path in files
    )
    top = {Path("functions/__init__.py"), Path(f"functions/__pycache__/__init__{bytecode}")}
    assert all(path in top or path.parts[1] in allowed for path in files)
    assert (asset / "functions" / function).is_dir()


@pytest.mark.parametrize("function", FUNCTIONS)
def test_functions_share_the_dependency_layer(synthesized: Synthesized, function: str) -> None:
    assert synthesized.function(function)["Layers"] == [
        {"Ref": names.DEPENDENCIES_LAYER_LOGICAL_ID}
    ]


def test_dependency_layer_holds_the_locked_versions_for_python_3_12_on_arm(
    synthesized: Synthesized,
) -> None:
    layer = synthesized.properties(names.DEPENDENCIES_LAYER_LOGICAL_ID)
    site_packages = _asset_dir(synthesized, layer["Content"]["S3Key"]) / "python"
    locked = {}
    for line in REQUIREMENTS_LOCK.read_text().splitlines():
        if line.strip():
            requirement = Requirement(line)
            locked[canonicalize_name(requirement.name)] = str(requirement.specifier)[2:]
    installed = {
        canonicalize_name(name): version
        for name, version in (
            path.name.removesuffix(".dist-info").rsplit("-", 1)
            for path in site_packages.glob("*.dist-info")
        )
    }

    assert layer["CompatibleRuntimes"] == ["python3.12"]
    assert layer["CompatibleArchitectures"] == ["arm64"]
    for package in ("aws-lambda-powertools", "aws-xray-sdk", "boto3", "botocore", "pydantic"):
        assert package in installed
    assert {name: locked.get(name) for name in installed} == installed
    assert list(site_packages.glob("pydantic_core/*cpython-312-aarch64-linux-gnu.so"))
