"""What the local stack runs, read from the template once its resources exist locally.

Each spec is an immutable value built from the resolved template: the functions and how
to run them, the stream mappings that feed them, the schedules and event rules that
invoke them, and the API routes in front of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.filters import FilterPattern
from local.schedules import ScheduleExpression, parse_schedule_expression
from local.template import Resolver, Template, TemplateError


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    handler: str
    runtime: str
    timeout_s: float
    memory_mb: int
    environment: Mapping[str, str]


@dataclass(frozen=True)
class StreamMappingSpec:
    logical_id: str
    function: str  # logical id of the function
    table: str  # logical id of the table
    stream_arn: str
    batch_size: int
    starting_position: str
    filters: tuple[FilterPattern, ...]
    report_batch_item_failures: bool
    maximum_retry_attempts: int  # -1: until the records expire
    bisect_on_error: bool
    on_failure_arn: str | None
    enabled: bool


@dataclass(frozen=True)
class QueueMappingSpec:
    """An SQS event source mapping."""

    logical_id: str
    function: str  # logical id of the function
    queue: str  # logical id of the queue
    queue_url: str
    queue_arn: str
    fifo: bool
    batch_size: int
    filters: tuple[FilterPattern, ...]
    report_batch_item_failures: bool
    maximum_concurrency: int | None  # ScalingConfig.MaximumConcurrency
    max_receive_count: int | None  # the queue's RedrivePolicy; None: it has none
    enabled: bool


@dataclass(frozen=True)
class ScheduleSpec:
    logical_id: str
    kind: str  # "scheduler" or "rule"
    name: str
    arn: str
    expression: ScheduleExpression
    timezone: str
    function: str  # logical id of the target function
    input: str | None
    start: str | None = None
    end: str | None = None


@dataclass(frozen=True)
class EventTarget:
    kind: str  # "lambda" or "sqs"
    destination: str  # function logical id, or queue URL
    input: str | None = None
    input_path: str | None = None


@dataclass(frozen=True)
class EventRuleSpec:
    logical_id: str
    name: str
    arn: str
    bus_name: str
    pattern: FilterPattern
    targets: tuple[EventTarget, ...]


@dataclass(frozen=True)
class RouteSpec:
    rest_api: str
    stage: str
    resource_path: str  # "/admin/accounts/{contractor_id}"
    method: str  # "GET", ..., or "ANY"
    function: str | None  # logical id; None for a MOCK integration
    authorization: str  # "NONE", "AWS_IAM", "COGNITO_USER_POOLS"
    scopes: tuple[str, ...] = ()
    mock_status: int = 200
    mock_headers: Mapping[str, str] = field(default_factory=dict)


_QUEUE_RECORD_KEYS = {
    "messageId",
    "receiptHandle",
    "body",
    "attributes",
    "messageAttributes",
    "md5OfBody",
    "md5OfMessageAttributes",
    "eventSource",
    "eventSourceARN",
    "awsRegion",
}

_STREAM_RECORD_KEYS = {
    "eventID",
    "eventName",
    "eventVersion",
    "eventSource",
    "awsRegion",
    "dynamodb",
    "eventSourceARN",
    "userIdentity",
}


def function_name_from_arn(value: str) -> str:
    """``arn:aws:lambda:r:a:function:NAME[:qualifier]`` or a bare name -> ``NAME``."""
    if value.startswith("arn:"):
        parts = value.split(":")
        if len(parts) >= 7 and parts[2] == "lambda" and parts[5] == "function":
            return parts[6]
        raise TemplateError(f"{value} is not a Lambda function ARN")
    return value.split(":")[0]


def handler_is_local(handler: str, root: Path) -> bool:
    """Whether the handler's top-level package lives in this repository (so it is ours to
    run), unlike CDK's own providers (``index.handler`` and friends)."""
    top = handler.split(".")[0]
    return (root / top / "__init__.py").exists() or (root / f"{top}.py").exists()


class SpecReader:
    def __init__(self, template: Template, resolver: Resolver, root: Path) -> None:
        self.template = template
        self.resolver = resolver
        self.root = root
        self.notes: list[str] = []
        self._functions: dict[str, str] = {}  # physical name -> logical id
        self._function_specs: list[FunctionSpec] | None = None

    # ------------------------------------------------------------------ functions

    def functions(self) -> list[FunctionSpec]:
        """The functions the local stack runs: Python handlers of this repository."""
        if self._function_specs is not None:
            return self._function_specs
        specs = []
        for logical_id, resource in self.template.of_type("AWS::Lambda::Function"):
            props = resource.get("Properties") or {}
            where = f"{logical_id}.Properties"
            handler = str(props.get("Handler", ""))
            runtime = str(props.get("Runtime", ""))
            if not runtime.startswith("python") or not handler_is_local(handler, self.root):
                self.notes.append(f"not run locally: function {logical_id} ({runtime} {handler})")
                continue
            variables = (props.get("Environment") or {}).get("Variables") or {}
            environment = {
                key: self.resolver.string(value, f"{where}.Environment.Variables.{key}")
                for key, value in variables.items()
            }
            name = str(self.resolver.ref(logical_id, where))
            spec = FunctionSpec(
                logical_id=logical_id,
                name=name,
                arn=str(self.resolver.attribute(logical_id, "Arn", where)),
                handler=handler,
                runtime=runtime,
                timeout_s=float(props.get("Timeout", 3)),
                memory_mb=int(props.get("MemorySize", 128)),
                environment=environment,
            )
            self._functions[name] = logical_id
            specs.append(spec)
        self._function_specs = specs
        return specs

    def function_for(self, value: str, where: str) -> str:
        """The logical id of the local function a name or (qualified) ARN designates."""
        self.functions()
        name = function_name_from_arn(value)
        if name not in self._functions:
            raise TemplateError(f"{where}: {value} is not a function the local stack runs")
        return self._functions[name]

    # ------------------------------------------------------------------ streams

    def stream_mappings(self, stream_tables: Mapping[str, str]) -> list[StreamMappingSpec]:
        """``stream_tables`` maps each local stream ARN to its table's logical id."""
        specs = []
        for logical_id, resource in self.template.of_type("AWS::Lambda::EventSourceMapping"):
            props = resource.get("Properties") or {}
            where = f"{logical_id}.Properties"
            source = self.resolver.string(
                props.get("EventSourceArn", ""), f"{where}.EventSourceArn"
            )
            if source not in stream_tables:
                if ":sqs:" not in source:  # queue_mappings reads those
                    self.notes.append(
                        f"not run locally: event source mapping {logical_id} on {source}"
                    )
                continue
            function = self.function_for(
                self.resolver.string(props["FunctionName"], f"{where}.FunctionName"), where
            )
            filters = self._filters(props, where, _STREAM_RECORD_KEYS, "a DynamoDB stream record")
            destination = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
                "Destination"
            )
            on_failure = (
                self.resolver.string(destination, f"{where}.DestinationConfig")
                if destination
                else None
            )
            if on_failure is not None and ":sqs:" not in on_failure:
                raise TemplateError(
                    f"{where}: on-failure destination {on_failure} is not an SQS queue; "
                    "the local stack only delivers to SQS"
                )
            specs.append(
                StreamMappingSpec(
                    logical_id=logical_id,
                    function=function,
                    table=stream_tables[source],
                    stream_arn=source,
                    batch_size=int(props.get("BatchSize", 100)),
                    starting_position=str(props.get("StartingPosition", "LATEST")),
                    filters=tuple(filters),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (props.get("FunctionResponseTypes") or []),
                    maximum_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
                    bisect_on_error=bool(props.get("BisectBatchOnFunctionError", False)),
                    on_failure_arn=on_failure,
                    enabled=bool(props.get("Enabled", True)),
                )
            )
        return specs

    def _filters(
        self, props: Mapping[str, Any], where: str, record_keys: set[str], record: str
    ) -> tuple[FilterPattern, ...]:
        filters = []
        for index, item in enumerate((props.get("FilterCriteria") or {}).get("Filters") or []):
            pattern_where = f"{where}.FilterCriteria.Filters[{index}]"
            raw = self.resolver.resolve(item.get("Pattern"), pattern_where)
            pattern = FilterPattern.parse(raw, pattern_where)
            for key in pattern.top_level_keys():
                if key not in record_keys:
                    self.notes.append(
                        f"WARNING {pattern_where}: key {key!r} is not in {record}, so this "
                        "filter never matches"
                    )
            filters.append(pattern)
        return tuple(filters)

    # ------------------------------------------------------------------ queues

    def queue_mappings(self) -> list[QueueMappingSpec]:
        """The event source mappings that read an SQS queue of the template."""
        queues = {
            str(self.resolver.attribute(logical_id, "Arn", logical_id)): logical_id
            for logical_id, _ in self.template.of_type("AWS::SQS::Queue")
        }
        specs = []
        for logical_id, resource in self.template.of_type("AWS::Lambda::EventSourceMapping"):
            props = resource.get("Properties") or {}
            where = f"{logical_id}.Properties"
            source = self.resolver.string(
                props.get("EventSourceArn", ""), f"{where}.EventSourceArn"
            )
            if ":sqs:" not in source:
                continue
            if source not in queues:
                self.notes.append(f"not run locally: event source mapping {logical_id} on {source}")
                continue
            queue = queues[source]
            function = self.function_for(
                self.resolver.string(props["FunctionName"], f"{where}.FunctionName"), where
            )
            scaling = props.get("ScalingConfig") or {}
            maximum_concurrency = scaling.get("MaximumConcurrency")
            redrive = self.template.properties(queue).get("RedrivePolicy") or {}
            max_receive_count = redrive.get("maxReceiveCount")
            specs.append(
                QueueMappingSpec(
                    logical_id=logical_id,
                    function=function,
                    queue=queue,
                    queue_url=str(self.resolver.ref(queue, where)),
                    queue_arn=source,
                    fifo=source.endswith(".fifo"),
                    batch_size=int(props.get("BatchSize", 10)),
                    filters=self._filters(props, where, _QUEUE_RECORD_KEYS, "an SQS record"),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (props.get("FunctionResponseTypes") or []),
                    maximum_concurrency=None
                    if maximum_concurrency is None
                    else int(maximum_concurrency),
                    max_receive_count=None if max_receive_count is None else int(max_receive_count),
                    enabled=bool(props.get("Enabled", True)),
                )
            )
        return specs

    # ------------------------------------------------------------------ schedules

    def schedules(self) -> list[ScheduleSpec]:
        specs = []
        for logical_id, resource in self.template.of_type("AWS::Scheduler::Schedule"):
            props = resource.get("Properties") or {}
            where = f"{logical_id}.Properties"
            if props.get("State", "ENABLED") != "ENABLED":
                continue
            target = props.get("Target") or {}
            target_arn = self.resolver.string(target.get("Arn"), f"{where}.Target.Arn")
            if ":lambda:" not in target_arn:
                self.notes.append(f"not run locally: schedule {logical_id} targets {target_arn}")
                continue
            expression_text = self.resolver.string(
                props["ScheduleExpression"], f"{where}.ScheduleExpression"
            )
            input_value = target.get("Input")
            specs.append(
                ScheduleSpec(
                    logical_id=logical_id,
                    kind="scheduler",
                    name=str(self.resolver.ref(logical_id, where)),
                    arn=str(self.resolver.attribute(logical_id, "Arn", where)),
                    expression=parse_schedule_expression(expression_text),
                    timezone=self.resolver.string(
                        props.get("ScheduleExpressionTimezone", "UTC"), where
                    ),
                    function=self.function_for(target_arn, f"{where}.Target"),
                    input=self.resolver.string(input_value, f"{where}.Target.Input")
                    if input_value is not None
                    else None,
                    start=self.resolver.string(props["StartDate"], where)
                    if "StartDate" in props
                    else None,
                    end=self.resolver.string(props["EndDate"], where)
                    if "EndDate" in props
                    else None,
                )
            )
        for logical_id, resource in self.template.of_type("AWS::Events::Rule"):
            props = resource.get("Properties") or {}
            if "ScheduleExpression" not in props or props.get("State", "ENABLED") != "ENABLED":
                continue
            where = f"{logical_id}.Properties"
            expression = parse_schedule_expression(
                self.resolver.string(props["ScheduleExpression"], f"{where}.ScheduleExpression")
            )
            for index, target in enumerate(props.get("Targets") or []):
                target_where = f"{where}.Targets[{index}]"
                target_arn = self.resolver.string(target.get("Arn"), target_where)
                if ":lambda:" not in target_arn:
                    self.notes.append(f"not run locally: rule {logical_id} target {target_arn}")
                    continue
                self._refuse_transformer(target, target_where)
                input_value = target.get("Input")
                specs.append(
                    ScheduleSpec(
                        logical_id=logical_id,
                        kind="rule",
                        name=str(self.resolver.ref(logical_id, where)),
                        arn=str(self.resolver.attribute(logical_id, "Arn", where)),
                        expression=expression,
                        timezone="UTC",
                        function=self.function_for(target_arn, target_where),
                        input=self.resolver.string(input_value, target_where)
                        if input_value is not None
                        else None,
                    )
                )
        return specs

    # ------------------------------------------------------------------ event rules

    def event_rules(self, bus_names: Mapping[str, str]) -> list[EventRuleSpec]:
        """Rules with an event pattern; ``bus_names`` maps a bus name or ARN to its name."""
        specs = []
        for logical_id, resource in self.template.of_type("AWS::Events::Rule"):
            props = resource.get("Properties") or {}
            if "EventPattern" not in props or props.get("State", "ENABLED") != "ENABLED":
                continue
            where = f"{logical_id}.Properties"
            bus_value = self.resolver.string(props.get("EventBusName", "default"), where)
            bus = bus_names.get(bus_value, bus_value.rsplit("/", 1)[-1])
            raw_pattern = self.resolver.resolve(props["EventPattern"], f"{where}.EventPattern")
            pattern = FilterPattern.parse(raw_pattern, f"{where}.EventPattern")
            targets = []
            for index, target in enumerate(props.get("Targets") or []):
                target_where = f"{where}.Targets[{index}]"
                arn = self.resolver.string(target.get("Arn"), target_where)
                self._refuse_transformer(target, target_where)
                input_value = target.get("Input")
                text_input = (
                    self.resolver.string(input_value, target_where)
                    if input_value is not None
                    else None
                )
                input_path = target.get("InputPath")
                if ":lambda:" in arn:
                    destination = self.function_for(arn, target_where)
                    kind = "lambda"
                elif ":sqs:" in arn:
                    destination = self._queue_url(arn, target_where)
                    kind = "sqs"
                else:
                    self.notes.append(f"not run locally: rule {logical_id} target {arn}")
                    continue
                targets.append(EventTarget(kind, destination, text_input, input_path))
            specs.append(
                EventRuleSpec(
                    logical_id=logical_id,
                    name=str(self.resolver.ref(logical_id, where)),
                    arn=str(self.resolver.attribute(logical_id, "Arn", where)),
                    bus_name=bus,
                    pattern=pattern,
                    targets=tuple(targets),
                )
            )
        return specs

    def _queue_url(self, arn: str, where: str) -> str:
        for logical_id, _ in self.template.of_type("AWS::SQS::Queue"):
            if self.resolver.attribute(logical_id, "Arn", where) == arn:
                return str(self.resolver.ref(logical_id, where))
        raise TemplateError(f"{where}: {arn} is not a queue of this template")

    @staticmethod
    def _refuse_transformer(target: Mapping[str, Any], where: str) -> None:
        if "InputTransformer" in target:
            raise TemplateError(f"{where}: InputTransformer is not emulated locally")

    # ------------------------------------------------------------------ API

    def routes(self) -> list[RouteSpec]:
        if any(True for _ in self.template.of_type("AWS::ApiGatewayV2::Api")):
            self.notes.append("not run locally: HTTP APIs (AWS::ApiGatewayV2::*)")
        stages: dict[str, str] = {}
        for _, resource in self.template.of_type("AWS::ApiGateway::Stage"):
            props = resource.get("Properties") or {}
            api = _ref_target(props.get("RestApiId"))
            if api and "StageName" in props:
                stages.setdefault(api, str(props["StageName"]))
        for _, resource in self.template.of_type("AWS::ApiGateway::Deployment"):
            props = resource.get("Properties") or {}
            api = _ref_target(props.get("RestApiId"))
            if api and "StageName" in props:
                stages.setdefault(api, str(props["StageName"]))
        authorizers = {
            logical_id: str((resource.get("Properties") or {}).get("Type", ""))
            for logical_id, resource in self.template.of_type("AWS::ApiGateway::Authorizer")
        }
        routes = []
        for logical_id, resource in self.template.of_type("AWS::ApiGateway::Method"):
            props = resource.get("Properties") or {}
            where = f"{logical_id}.Properties"
            api = _ref_target(props.get("RestApiId"))
            if api is None:
                raise TemplateError(f"{where}.RestApiId: expected a Ref to a RestApi")
            path = self._resource_path(props.get("ResourceId"), where)
            authorization = str(props.get("AuthorizationType", "NONE"))
            if authorization == "CUSTOM":
                authorizer = _ref_target(props.get("AuthorizerId"))
                authorizer_type = authorizers.get(authorizer or "", "")
                raise TemplateError(
                    f"{where}: a {authorizer_type or 'custom'} Lambda authorizer is not "
                    "emulated locally"
                )
            if authorization not in ("NONE", "AWS_IAM", "COGNITO_USER_POOLS"):
                raise TemplateError(f"{where}: AuthorizationType {authorization} not emulated")
            integration = props.get("Integration") or {}
            kind = integration.get("Type")
            function = None
            mock_status, mock_headers = 200, {}
            if kind in ("AWS_PROXY",):
                uri = self.resolver.string(integration.get("Uri"), f"{where}.Integration.Uri")
                match = re.search(r"functions/(arn:[^/]+)/invocations", uri)
                if match is None:
                    raise TemplateError(f"{where}: integration URI {uri} names no function")
                function = self.function_for(match.group(1), where)
            elif kind == "MOCK":
                responses = integration.get("IntegrationResponses") or [{}]
                mock_status = int(responses[0].get("StatusCode", 200))
                for key, value in (responses[0].get("ResponseParameters") or {}).items():
                    header = key.removeprefix("method.response.header.")
                    mock_headers[header] = str(self.resolver.resolve(value, where)).strip("'")
            else:
                raise TemplateError(f"{where}: integration type {kind} is not emulated locally")
            routes.append(
                RouteSpec(
                    rest_api=api,
                    stage=stages.get(api, "prod"),
                    resource_path=path,
                    method=str(props.get("HttpMethod", "ANY")).upper(),
                    function=function,
                    authorization=authorization,
                    scopes=tuple(props.get("AuthorizationScopes") or ()),
                    mock_status=mock_status,
                    mock_headers=mock_headers,
                )
            )
        return routes

    def _resource_path(self, resource_id: Any, where: str) -> str:
        if isinstance(resource_id, dict) and "Fn::GetAtt" in resource_id:
            attribute = resource_id["Fn::GetAtt"]
            if isinstance(attribute, str):
                attribute = attribute.split(".", 1)
            if attribute[1] == "RootResourceId":
                return "/"
        target = _ref_target(resource_id)
        if target is None or self.template.type_of(target) != "AWS::ApiGateway::Resource":
            raise TemplateError(f"{where}: cannot follow resource id {resource_id!r}")
        props = self.template.properties(target)
        parent = self._resource_path(props.get("ParentId"), f"{target}.Properties.ParentId")
        part = str(props.get("PathPart"))
        return f"{parent.rstrip('/')}/{part}"


def _ref_target(value: Any) -> str | None:
    if isinstance(value, dict) and set(value) == {"Ref"} and isinstance(value["Ref"], str):
        return value["Ref"]
    return None


def json_input(text: str | None) -> Any:
    return None if text is None else json.loads(text)
