"""Test helpers for the billing's AWS resources in moto, built from the table models."""

from __future__ import annotations

import email
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from typing import Any, cast

import boto3
from boto3.dynamodb.types import TypeSerializer
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from functions.adapters.models import TABLE_MODELS, bind_tables

REGION = "us-east-1"
TABLES = {key: f"test-{key}" for key in TABLE_MODELS}
BUS = "lead-billing"
DOCUMENTS_BUCKET = "test-documents"
# Where the event bus adapter keeps the entries the bus refused (republish's queue).
UNPUBLISHED_EVENTS_QUEUE = "test-unpublished-events"
UNPUBLISHED_EVENTS_QUEUE_URL = (
    f"https://sqs.{REGION}.amazonaws.com/{DEFAULT_ACCOUNT_ID}/{UNPUBLISHED_EVENTS_QUEUE}"
)

ENVIRONMENT = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    # moto routes DynamoDB by the regional host, not the account-based one botocore prefers.
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    "ACCOUNTS_TABLE": TABLES["accounts"],
    "LEDGER_TABLE": TABLES["ledger"],
    "QUARANTINE_TABLE": TABLES["quarantine"],
    "NOTICES_TABLE": TABLES["notices"],
    "EVENT_BUS_NAME": BUS,
    "UNPUBLISHED_EVENTS_QUEUE_URL": UNPUBLISHED_EVENTS_QUEUE_URL,
    "DOCUMENTS_BUCKET": DOCUMENTS_BUCKET,
    "POWERTOOLS_SERVICE_NAME": "lead-billing",
    "POWERTOOLS_METRICS_NAMESPACE": "LeadBilling",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOGGER_LOG_EVENT": "false",
    "LOG_LEVEL": "INFO",  # as deployed: the leak search reads what production logs
}


@dataclass
class Resources:
    quarantine_queue_url: str
    events_queue_url: str
    unpublished_events_queue_url: str

    def leads_stream_arn(self) -> str:
        return self.stream_arn("leads")

    def accounts_stream_arn(self) -> str:
        return self.stream_arn("accounts")

    @staticmethod
    def stream_arn(table: str) -> str:
        description = boto3.client("dynamodb").describe_table(TableName=TABLES[table])
        return description["Table"]["LatestStreamArn"]


def create_resources() -> Resources:
    """Tables from the PynamoDB models, the bus with a queue that receives every event,
    the unpublished events queue, the documents bucket (versioned, as the stack's)."""
    bind_tables(TABLES)
    for model in TABLE_MODELS.values():
        model.create_table(wait=True)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=DOCUMENTS_BUCKET)
    s3.put_bucket_versioning(Bucket=DOCUMENTS_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    sqs = boto3.client("sqs")
    quarantine = sqs.create_queue(QueueName="test-quarantine")["QueueUrl"]
    events_queue = sqs.create_queue(QueueName="test-events")["QueueUrl"]
    unpublished = sqs.create_queue(QueueName=UNPUBLISHED_EVENTS_QUEUE)["QueueUrl"]
    events_arn = sqs.get_queue_attributes(QueueUrl=events_queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    bridge = boto3.client("events")
    bridge.create_event_bus(Name=BUS)
    bridge.put_rule(
        Name="everything", EventBusName=BUS, EventPattern=json.dumps({"source": [{"prefix": ""}]})
    )
    bridge.put_targets(
        Rule="everything", EventBusName=BUS, Targets=[{"Id": "queue", "Arn": events_arn}]
    )
    return Resources(quarantine, events_queue, unpublished)


def drain(queue_url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def sent_mail(message_id: str | None = None) -> list[EmailMessage]:
    """The messages moto's SES accepted so far (or the one SES gave ``message_id``), parsed."""
    backend = ses_backends[DEFAULT_ACCOUNT_ID][REGION]
    return [
        cast(EmailMessage, email.message_from_string(message.raw_data, policy=policy.default))
        for message in backend.sent_messages
        if message_id is None or message.id == message_id
    ]


def put_leads(items: Iterable[dict[str, Any]]) -> None:
    """Write leads as the lead distribution system does: raw items in the Leads table."""
    client = boto3.client("dynamodb")
    serializer = TypeSerializer()
    for item in items:
        client.put_item(
            TableName=TABLES["leads"],
            Item={key: serializer.serialize(value) for key, value in item.items()},
        )


def stream_records(stream_arn: str) -> Iterator[dict[str, Any]]:
    """Every record of a stream so far, in the shape Lambda delivers them."""
    streams = boto3.client("dynamodbstreams")
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in page["Records"]:
                created = record["dynamodb"].get("ApproximateCreationDateTime")
                record = json.loads(json.dumps(record, default=str))
                if created is not None:  # Lambda hands it over as epoch seconds
                    record["dynamodb"]["ApproximateCreationDateTime"] = int(created.timestamp())
                record["eventSourceARN"] = stream_arn
                yield record
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")


def stream_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": records}


def synthetic_record(image: dict[str, Any]) -> dict[str, Any]:
    """A stream INSERT record for an arbitrary image, including ones the Leads table's
    clients could write but that break the contract."""
    serializer = TypeSerializer()
    wire = {key: serializer.serialize(value) for key, value in image.items()}
    sequence = str(uuid.uuid4().int % 10**20).zfill(21)
    return {
        "eventID": uuid.uuid4().hex,
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": {
            "Keys": {"lead_id": wire.get("lead_id", {"S": "?"})},
            "NewImage": wire,
            "SequenceNumber": sequence,
            "SizeBytes": 100,
            "StreamViewType": "NEW_IMAGE",
        },
    }


@dataclass
class LambdaContext:
    function_name: str = "on_lead"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:on_lead"
    aws_request_id: str = "request"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def rest_event(method: str, path: str, body: Any = None) -> dict[str, Any]:
    """An API Gateway REST (v1) proxy event; a query string in ``path`` becomes its
    parameters."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(path)
    path = parts.path
    query = parse_qs(parts.query)
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "queryStringParameters": {key: values[-1] for key, values in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "httpMethod": method,
            "path": path,
            "stage": "test",
            "requestId": uuid.uuid4().hex,
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


class TransactionConflicts:
    """Cancels the next ``count`` TransactWriteItems calls with ``TransactionConflict``,
    at the botocore level, as DynamoDB does when concurrent transactions touch an item."""

    def __init__(self, count: int) -> None:
        self.remaining = count
        self.injected = 0

    def install(self) -> None:
        from functions.adapters import models

        models.transact_write()  # makes sure the shared connection exists
        assert models._connection is not None
        models._connection.client.meta.events.register(
            "before-call.dynamodb.TransactWriteItems", self._cancel, unique_id="conflicts"
        )

    def uninstall(self) -> None:
        from functions.adapters import models

        assert models._connection is not None
        models._connection.client.meta.events.unregister(
            "before-call.dynamodb.TransactWriteItems", unique_id="conflicts"
        )

    def _cancel(self, params: dict[str, Any], **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        if self.remaining <= 0:
            return None
        self.remaining -= 1
        self.injected += 1
        items = json.loads(params["body"])["TransactItems"]
        reasons = [{"Code": "TransactionConflict"} for _ in items]
        parsed = {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
            "CancellationReasons": reasons,
            "ResponseMetadata": {"HTTPStatusCode": 400, "HTTPHeaders": {}},
        }
        return AWSResponse("https://dynamodb", 400, {}, None), parsed
