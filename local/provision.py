"""Create the template's AWS resources in the AWS emulator and teach the resolver their
local names and ARNs.

Resources are named as CloudFormation would name them, made deterministic:
``<Stack>-<LogicalId>`` unless the template gives a name.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from local.template import (
    ACCOUNT_ID,
    REGION,
    Resolver,
    Template,
    TemplateError,
    friendly_name,
    physical_name,
)

# Resource types that need no local counterpart: permissions, logging, monitoring,
# deployment plumbing. Anything else the local stack does not create is reported.
IGNORED_TYPES = {
    "AWS::CDK::Metadata",
    "AWS::IAM::Role",
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
    "AWS::Lambda::Permission",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Lambda::Version",
    "AWS::Lambda::Alias",
    "AWS::Logs::LogGroup",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::SQS::QueuePolicy",
    "AWS::S3::BucketPolicy",
    "AWS::ApiGateway::Account",
    "AWS::ApiGateway::Deployment",
    "AWS::ApiGateway::Stage",
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGateway::Resource",
    "AWS::ApiGateway::Method",
    "AWS::ApiGateway::Authorizer",
    "AWS::Lambda::Function",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Scheduler::Schedule",
    "AWS::Scheduler::ScheduleGroup",
    "AWS::Events::Rule",
    "AWS::Lambda::LayerVersion",
    "AWS::ApiGateway::RequestValidator",
    "AWS::ApiGateway::GatewayResponse",
    "AWS::ApiGateway::Model",
    "AWS::KMS::Key",
    "AWS::KMS::Alias",
    "AWS::Cognito::UserPool",
    "AWS::Cognito::UserPoolClient",
    "AWS::Cognito::UserPoolDomain",
    "AWS::Cognito::UserPoolResourceServer",
    # The Lead Manager's page: the gateway serves web/ at /app/ in their place (local/web.py).
    "AWS::CloudFront::Distribution",
    "AWS::CloudFront::OriginAccessControl",
    "AWS::CloudFront::ResponseHeadersPolicy",
    "Custom::CDKBucketDeployment",
}

TABLE_TYPES = ("AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable")


def table_create_args(props: Mapping[str, Any], name: str) -> dict[str, Any]:
    """CreateTable arguments for a resolved AWS::DynamoDB::Table or GlobalTable."""
    billing = str(props.get("BillingMode", "PAY_PER_REQUEST"))
    args: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": billing,
    }
    throughput = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    if billing == "PROVISIONED":
        args["ProvisionedThroughput"] = props.get("ProvisionedThroughput") or throughput
    indexes = []
    for index in props.get("GlobalSecondaryIndexes") or []:
        entry = {
            "IndexName": index["IndexName"],
            "KeySchema": index["KeySchema"],
            "Projection": index.get("Projection") or {"ProjectionType": "ALL"},
        }
        if billing == "PROVISIONED":
            entry["ProvisionedThroughput"] = index.get("ProvisionedThroughput") or throughput
        indexes.append(entry)
    if indexes:
        args["GlobalSecondaryIndexes"] = indexes
    local_indexes = [
        {
            "IndexName": index["IndexName"],
            "KeySchema": index["KeySchema"],
            "Projection": index.get("Projection") or {"ProjectionType": "ALL"},
        }
        for index in props.get("LocalSecondaryIndexes") or []
    ]
    if local_indexes:
        args["LocalSecondaryIndexes"] = local_indexes
    stream = props.get("StreamSpecification") or {}
    view_type = stream.get("StreamViewType")
    if view_type and stream.get("StreamEnabled", True):
        args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view_type}
    return args


def key_schema_signature(props: Mapping[str, Any]) -> tuple[tuple[str, str, str], ...]:
    """(key type, attribute name, attribute type) of a table's primary key."""
    types = {d["AttributeName"]: d["AttributeType"] for d in props["AttributeDefinitions"]}
    return tuple(
        sorted(
            (k["KeyType"], k["AttributeName"], types[k["AttributeName"]])
            for k in props["KeySchema"]
        )
    )


def match_table_models(
    tables: Mapping[str, Mapping[str, Any]],
    models: Mapping[str, tuple[tuple[str, str, str], ...]],
) -> dict[str, str]:
    """Which template table (logical id) holds each model (``TABLE_MODELS`` key).

    A table is matched to the model whose primary key it has, when exactly one model has
    it; otherwise by its logical id beginning with the model's key (``Accounts...``)."""
    found: dict[str, str] = {}
    for key, signature in models.items():
        same_key = [
            lid for lid, props in tables.items() if key_schema_signature(props) == signature
        ]
        if len(same_key) == 1:
            found[key] = same_key[0]
            continue
        by_name = [lid for lid in (same_key or tables) if lid.lower().startswith(key.lower())]
        if len(by_name) == 1:
            found[key] = by_name[0]
    if len(set(found.values())) != len(found):
        raise TemplateError(f"two table models match the same table: {found}")
    return found


def model_signatures() -> dict[str, tuple[tuple[str, str, str], ...]]:
    """The primary key of each table model of ``functions.adapters.models``."""
    from functions.adapters.models import TABLE_MODELS

    signatures = {}
    for key, model in TABLE_MODELS.items():
        schema = model._get_schema()
        signatures[key] = key_schema_signature(
            {
                "AttributeDefinitions": schema["attribute_definitions"],
                "KeySchema": schema["key_schema"],
            }
        )
    return signatures


@dataclass
class Provisioned:
    tables: dict[str, str] = field(default_factory=dict)  # logical id -> name
    stream_tables: dict[str, str] = field(default_factory=dict)  # stream ARN -> logical id
    queues: dict[str, str] = field(default_factory=dict)  # logical id -> URL
    buses: dict[str, str] = field(default_factory=dict)  # logical id -> name
    bus_names: dict[str, str] = field(default_factory=dict)  # name or ARN -> name
    buckets: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # logical id -> ARN
    email_identities: list[str] = field(default_factory=list)
    configuration_sets: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Provisioner:
    def __init__(
        self,
        template: Template,
        resolver: Resolver,
        aws_endpoint: str,
        email_identities: Sequence[str] = (),
        secret_values: Mapping[str, str] | None = None,
    ) -> None:
        """``secret_values``: the value to give a secret of the template (by logical id)
        instead of the one the template generates."""
        self.template = template
        self.email_identities = list(email_identities)
        self.secret_values = dict(secret_values or {})
        self.resolver = resolver
        self.stack = template.stack_name
        session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - the emulator takes any key
            region_name=REGION,
        )
        self._client = lambda service: session.client(service, endpoint_url=aws_endpoint)
        self.result = Provisioned()

    def _name(self, logical_id: str, props: Mapping[str, Any], key: str, limit: int) -> str:
        if key in props:
            return self.resolver.string(props[key], f"{logical_id}.Properties.{key}")
        return physical_name(self.stack, logical_id, limit)

    def _props(self, logical_id: str, resource: Mapping[str, Any]) -> dict[str, Any]:
        resolved = self.resolver.resolve(
            resource.get("Properties") or {}, f"{logical_id}.Properties"
        )
        assert isinstance(resolved, dict)
        return resolved

    def register_names(self) -> None:
        """Teach the resolver the values that do not depend on creating anything."""
        arn = f"{REGION}:{ACCOUNT_ID}"
        for logical_id, resource in self.template.resources.items():
            kind = resource.get("Type")
            props = resource.get("Properties") or {}
            if kind == "AWS::Lambda::Function":
                name = self._name(logical_id, props, "FunctionName", 64)
                self.resolver.register(
                    logical_id, name, Arn=f"arn:aws:lambda:{arn}:function:{name}"
                )
            elif kind == "AWS::IAM::Role":
                name = self._name(logical_id, props, "RoleName", 64)
                self.resolver.register(
                    logical_id, name, Arn=f"arn:aws:iam::{ACCOUNT_ID}:role/{name}", RoleId=name
                )
            elif kind == "AWS::Scheduler::Schedule":
                name = self._name(logical_id, props, "Name", 64)
                group = props.get("GroupName", "default")
                self.resolver.register(
                    logical_id, name, Arn=f"arn:aws:scheduler:{arn}:schedule/{group}/{name}"
                )
            elif kind == "AWS::Events::Rule":
                name = self._name(logical_id, props, "Name", 64)
                self.resolver.register(logical_id, name, Arn=f"arn:aws:events:{arn}:rule/{name}")
            elif kind == "AWS::Logs::LogGroup":
                name = self._name(logical_id, props, "LogGroupName", 512)
                self.resolver.register(
                    logical_id, name, Arn=f"arn:aws:logs:{arn}:log-group:{name}:*"
                )
            elif kind == "AWS::ApiGateway::RestApi":
                api_id = re.sub(r"[^a-z0-9]", "", logical_id.lower())[:10]
                self.resolver.register(logical_id, api_id, RootResourceId=f"{api_id}-root")
            elif kind == "AWS::ApiGateway::Resource":
                self.resolver.register(logical_id, logical_id.lower()[:10])
            elif kind == "AWS::Cognito::UserPool":
                pool = f"{REGION}_local"
                self.resolver.register(
                    logical_id,
                    pool,
                    Arn=f"arn:aws:cognito-idp:{arn}:userpool/{pool}",
                    ProviderName=f"cognito-idp.{REGION}.amazonaws.com/{pool}",
                    ProviderURL=f"https://cognito-idp.{REGION}.amazonaws.com/{pool}",
                    UserPoolId=pool,
                )
            elif kind == "AWS::Cognito::UserPoolClient":
                self.resolver.register(logical_id, "local-client", ClientId="local-client")
            elif kind == "AWS::KMS::Key":
                self.resolver.register(
                    logical_id, logical_id, Arn=f"arn:aws:kms:{arn}:key/{logical_id}"
                )
            elif kind == "AWS::SES::ConfigurationSet":
                self.resolver.register(logical_id, self._name(logical_id, props, "Name", 64))
            elif kind == "AWS::SES::EmailIdentity":
                self.resolver.register(
                    logical_id, self.resolver.string(props["EmailIdentity"], logical_id)
                )

    def create_all(self) -> Provisioned:
        self.register_names()
        self._create_queues()
        self._create_tables()
        self._create_buses()
        self._create_topics_buckets_parameters_secrets()
        self._create_email_identities()
        handled = (
            IGNORED_TYPES
            | set(TABLE_TYPES)
            | {
                "AWS::SQS::Queue",
                "AWS::Events::EventBus",
                "AWS::SNS::Topic",
                "AWS::S3::Bucket",
                "AWS::SSM::Parameter",
                "AWS::SecretsManager::Secret",
                "AWS::SES::EmailIdentity",
                "AWS::SES::ConfigurationSet",
            }
        )
        skipped: dict[str, list[str]] = {}
        for logical_id, resource in self.template.resources.items():
            kind = str(resource.get("Type"))
            if kind not in handled:
                skipped.setdefault(kind, []).append(logical_id)
        for kind, ids in sorted(skipped.items()):
            self.result.notes.append(f"not created locally: {kind} ({', '.join(ids)})")
        return self.result

    def _create_tables(self) -> None:
        dynamodb = self._client("dynamodb")
        for logical_id, resource in self.template.of_type(*TABLE_TYPES):
            props = self._props(logical_id, resource)
            name = self._name(logical_id, props, "TableName", 255)
            description = dynamodb.create_table(**table_create_args(props, name))[
                "TableDescription"
            ]
            ttl = props.get("TimeToLiveSpecification") or {}
            if ttl.get("AttributeName") and ttl.get("Enabled", True):
                dynamodb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={
                        "Enabled": True,
                        "AttributeName": ttl["AttributeName"],
                    },
                )
            attributes = {"Arn": description["TableArn"]}
            if "LatestStreamArn" in description:
                attributes["StreamArn"] = description["LatestStreamArn"]
                self.result.stream_tables[description["LatestStreamArn"]] = logical_id
            self.resolver.register(logical_id, name, **attributes)
            self.result.tables[logical_id] = name

    def _create_queues(self) -> None:
        sqs = self._client("sqs")
        redrives: list[tuple[str, str, Any]] = []
        for logical_id, resource in self.template.of_type("AWS::SQS::Queue"):
            props = resource.get("Properties") or {}
            fifo = bool(props.get("FifoQueue", False))
            name = self._name(logical_id, props, "QueueName", 75)
            if fifo and not name.endswith(".fifo"):
                name = f"{name}.fifo"
            attributes: dict[str, str] = {}
            for key in (
                "VisibilityTimeout",
                "MessageRetentionPeriod",
                "DelaySeconds",
                "ReceiveMessageWaitTimeSeconds",
                "MaximumMessageSize",
            ):
                if key in props:
                    attributes[key] = str(props[key])
            if fifo:
                attributes["FifoQueue"] = "true"
                if props.get("ContentBasedDeduplication"):
                    attributes["ContentBasedDeduplication"] = "true"
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"
            self.resolver.register(logical_id, url, Arn=arn, QueueName=name, QueueUrl=url)
            self.result.queues[logical_id] = url
            if "RedrivePolicy" in props:
                redrives.append((logical_id, url, props["RedrivePolicy"]))
        for logical_id, url, redrive in redrives:
            policy = self.resolver.resolve(redrive, f"{logical_id}.Properties.RedrivePolicy")
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(policy)})

    def _create_buses(self) -> None:
        events = self._client("events")
        self.result.bus_names["default"] = "default"
        self.result.bus_names[f"arn:aws:events:{REGION}:{ACCOUNT_ID}:event-bus/default"] = "default"
        for logical_id, resource in self.template.of_type("AWS::Events::EventBus"):
            props = resource.get("Properties") or {}
            name = self._name(logical_id, props, "Name", 256)
            arn = events.create_event_bus(Name=name)["EventBusArn"]
            self.resolver.register(logical_id, name, Arn=arn, Name=name)
            self.result.buses[logical_id] = name
            self.result.bus_names[name] = name
            self.result.bus_names[arn] = name

    def _create_topics_buckets_parameters_secrets(self) -> None:
        for logical_id, resource in self.template.of_type("AWS::SNS::Topic"):
            props = resource.get("Properties") or {}
            name = self._name(logical_id, props, "TopicName", 256)
            arn = self._client("sns").create_topic(Name=name)["TopicArn"]
            self.resolver.register(logical_id, arn, TopicArn=arn, TopicName=name)
        for logical_id, resource in self.template.of_type("AWS::S3::Bucket"):
            props = resource.get("Properties") or {}
            name = self._name(logical_id, props, "BucketName", 63).lower()
            s3 = self._client("s3")
            s3.create_bucket(Bucket=name)
            versioning = props.get("VersioningConfiguration") or {}
            if versioning.get("Status") == "Enabled":
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            self.resolver.register(
                logical_id,
                name,
                Arn=f"arn:aws:s3:::{name}",
                DomainName=f"{name}.s3.amazonaws.com",
                RegionalDomainName=f"{name}.s3.{REGION}.amazonaws.com",
            )
            self.result.buckets[logical_id] = name
        for logical_id, resource in self.template.of_type("AWS::SSM::Parameter"):
            props = self._props(logical_id, resource)
            name = props.get("Name") or f"/{self.stack}/{logical_id}"
            self._client("ssm").put_parameter(
                Name=name,
                Value=str(props["Value"]),
                Type=str(props.get("Type", "String")),
                Overwrite=True,
            )
            self.resolver.register(
                logical_id, name, Type=props.get("Type", "String"), Value=props["Value"]
            )
        for logical_id, resource in self.template.of_type("AWS::SecretsManager::Secret"):
            props = self._props(logical_id, resource)
            name = props.get("Name") or physical_name(self.stack, logical_id, 256)
            value = self.secret_values.get(logical_id, props.get("SecretString"))
            if value is None:
                generate = props.get("GenerateSecretString") or {}
                generated = secrets.token_urlsafe(24)
                if "SecretStringTemplate" in generate and "GenerateStringKey" in generate:
                    document = json.loads(generate["SecretStringTemplate"])
                    document[generate["GenerateStringKey"]] = generated
                    value = json.dumps(document)
                else:
                    value = generated
            arn = self._client("secretsmanager").create_secret(Name=name, SecretString=value)["ARN"]
            self.resolver.register(logical_id, arn, Id=arn)
            self.result.secrets[logical_id] = arn

    def _create_email_identities(self) -> None:
        """Verify every sender the template mentions, so that sending works locally: the
        SES identities it declares, and the domain of any email address a function's
        environment resolves to (a parameter's default included), plus the identities the
        local stack was given. Create the template's configuration sets."""
        ses = self._client("sesv2")
        identities: list[str] = list(self.email_identities)
        for logical_id, resource in self.template.of_type("AWS::SES::EmailIdentity"):
            identities.append(
                self.resolver.string(
                    (resource.get("Properties") or {})["EmailIdentity"], logical_id
                )
            )
        for logical_id, resource in self.template.of_type("AWS::Lambda::Function"):
            variables = ((resource.get("Properties") or {}).get("Environment") or {}).get(
                "Variables"
            ) or {}
            for key, value in variables.items():
                try:
                    resolved = self.resolver.resolve(value, f"{logical_id}.Environment.{key}")
                except TemplateError:
                    continue  # a value that cannot be resolved is reported with the function
                if isinstance(resolved, str):
                    identities.extend(_EMAIL_DOMAIN.findall(resolved))
        for logical_id, _ in self.template.of_type("AWS::SES::ConfigurationSet"):
            name = str(self.resolver.ref(logical_id))
            try:
                ses.create_configuration_set(ConfigurationSetName=name)
            except (BotoCoreError, ClientError) as exc:
                # Sending does not depend on it: the emulator ignores a send's set.
                self.result.notes.append(
                    f"configuration set {logical_id} not created locally ({exc}); emails "
                    "are sent without it"
                )
                continue
            self.result.configuration_sets.append(name)
        for identity in dict.fromkeys(identities):
            ses.create_email_identity(EmailIdentity=identity)
            self.result.email_identities.append(identity)


_EMAIL_DOMAIN = re.compile(r"[\w.+-]+@([\w-]+(?:\.[\w-]+)+)")


def declared_table_ids() -> dict[str, str]:
    """The logical id the stack gives each table model (``infra.names``), if it says."""
    try:
        from infra.names import TABLE_LOGICAL_IDS
    except ImportError:
        return {}
    return dict(TABLE_LOGICAL_IDS)


def table_models(
    template: Template, resolver: Resolver, tables: Mapping[str, str]
) -> dict[str, str]:
    """``TABLE_MODELS`` key -> physical table name, for the template's tables; tables that
    hold no model are listed under their construct name.

    A table is found by the logical id ``infra.names`` declares for the model, else by
    its primary key, else by its logical id beginning with the model's key."""
    declared = {key: lid for key, lid in declared_table_ids().items() if lid in tables}
    resolved = {
        logical_id: resolver.resolve(template.properties(logical_id), logical_id)
        for logical_id in tables
        if logical_id not in declared.values()
    }
    signatures = {key: sig for key, sig in model_signatures().items() if key not in declared}
    matched = {**declared, **match_table_models(resolved, signatures)}
    names = {key: tables[logical_id] for key, logical_id in matched.items()}
    for logical_id, name in tables.items():
        if logical_id not in matched.values():
            names[friendly_name(logical_id, template.resources[logical_id])] = name
    return names
