"""How every billing function is built: one construct, so the functions cannot differ in
runtime, architecture, logging, tracing or alarms.

Each function gets its own role, with no managed policy: it may write its own log group
and send traces, and the stack grants it the rest resource by resource. Its environment is
checked against its settings class (``functions/adapters/settings.py``) at synth: a variable
the settings do not declare, or a declared one the stack does not set, fails the synth
rather than the cold start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from aws_cdk import AssetHashType, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions.adapters.settings import FunctionSettings
from infra import names
from infra.assets import LAYER_PYTHON_VERSION, dependency_layer, function_code
from infra.nag import acknowledge

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS

if RUNTIME.name != f"python{LAYER_PYTHON_VERSION}":
    raise RuntimeError("the dependency layer is built for another Python than the runtime")


class DependenciesLayer(Construct):
    """The layer with the runtime dependencies, shared by every function (``infra/assets``)."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        built = dependency_layer()
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            code=lambda_.Code.from_asset(
                str(built.path),
                # The key already identifies the content; hashing 60 MB on every synth
                # would tell nothing more.
                asset_hash=built.key,
                asset_hash_type=AssetHashType.CUSTOM,
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="Runtime dependencies of the lead billing functions (requirements.lock)",
        )
        cast(lambda_.CfnLayerVersion, self.layer.node.default_child).override_logical_id(
            names.DEPENDENCIES_LAYER_LOGICAL_ID
        )


class BillingFunction(Construct):
    """A function of ``functions/<name>/handler.py`` with its role, log group and alarm."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        description: str,
        environment: Mapping[str, str],
        layer: lambda_.ILayerVersion,
        timeout: Duration,
        memory_size: int,
    ) -> None:
        super().__init__(scope, construct_id)
        settings: type[FunctionSettings] = names.FUNCTION_SETTINGS[name]
        declared = names.settings_variables(settings)
        if set(environment) != declared:
            raise ValueError(
                f"{name}: the environment sets {sorted(environment)} but "
                f"{settings.__name__} reads {sorted(declared)}"
            )
        self.name = name

        self.log_group = logs.LogGroup(self, "LogGroup", retention=LOG_RETENTION)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs the {name} function of the lead billing",
        )
        self.log_group.grant_write(self.role)

        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=names.handler_path(name),
            code=lambda_.Code.from_asset(str(function_code(name))),
            layers=[layer],
            role=self.role,
            timeout=timeout,
            memory_size=memory_size,
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            log_group=self.log_group,
            environment={**names.POWERTOOLS_ENVIRONMENT, **environment},
        )
        cast(lambda_.CfnFunction, self.function.node.default_child).override_logical_id(
            names.FUNCTION_LOGICAL_IDS[name]
        )

        self.errors_alarm = cloudwatch.Alarm(
            self,
            "ErrorsAlarm",
            alarm_description=f"The {name} function failed an invocation.",
            metric=self.function.metric_errors(period=Duration.minutes(1), statistic="Sum"),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "The runtime is pinned to Python 3.12, the version the dependency layer's binary "
            "wheels (pydantic-core) are built for and the lock is tested on; moving it means "
            "rebuilding the layer for the new version (infra/assets.py), done on purpose.",
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "xray:PutTraceSegments and xray:PutTelemetryRecords, added by active tracing, "
            "support no resource-level permissions. Nothing else in the role's default "
            "policy names a wildcard resource.",
        )

    def add_to_role_policy(self, *statements: iam.PolicyStatement) -> None:
        for statement in statements:
            self.role.add_to_policy(statement)
