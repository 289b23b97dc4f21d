"""The emulator's transactions (``local.moto_atomic``): a cancelled transaction leaves the
items it named and the table's stream exactly as they were, as DynamoDB does, without
moto copying whole tables."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support.aws import TABLES, Resources


def _account(contractor_id: str, remaining: int) -> dict[str, dict[str, str]]:
    return {"contractor_id": {"S": contractor_id}, "remaining_cents": {"N": str(remaining)}}


def _stream_length(client) -> int:
    arn = Resources.stream_arn("accounts")
    streams = boto3.client("dynamodbstreams")
    [shard] = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return len(streams.get_records(ShardIterator=iterator, Limit=1000)["Records"])


def test_a_cancelled_transaction_puts_back_what_it_wrote_and_adds_no_stream_record(aws):
    client = boto3.client("dynamodb")
    client.put_item(TableName=TABLES["accounts"], Item=_account("c-1", 500))
    client.put_item(TableName=TABLES["accounts"], Item=_account("c-2", 100))
    records = _stream_length(client)

    # Given a transaction whose first two writes apply before its last condition fails
    with pytest.raises(ClientError) as cancelled:
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLES["accounts"], "Item": _account("c-new", 1)}},
                {
                    "Update": {
                        "TableName": TABLES["accounts"],
                        "Key": {"contractor_id": {"S": "c-1"}},
                        "UpdateExpression": "SET remaining_cents = remaining_cents - :p",
                        "ExpressionAttributeValues": {":p": {"N": "200"}},
                    }
                },
                {
                    "Update": {
                        "TableName": TABLES["accounts"],
                        "Key": {"contractor_id": {"S": "c-2"}},
                        "UpdateExpression": "SET remaining_cents = remaining_cents - :p",
                        "ConditionExpression": "remaining_cents > :p",
                        "ExpressionAttributeValues": {":p": {"N": "200"}},
                    }
                },
            ]
        )

    # Then nothing it wrote remains, and the stream shows none of it
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    table = TABLES["accounts"]
    assert "Item" not in client.get_item(TableName=table, Key={"contractor_id": {"S": "c-new"}})
    got = client.get_item(TableName=table, Key={"contractor_id": {"S": "c-1"}})["Item"]
    assert got["remaining_cents"] == {"N": "500"}
    assert _stream_length(client) == records


def test_a_transaction_that_succeeds_keeps_every_write_and_its_stream_records(aws):
    client = boto3.client("dynamodb")
    client.put_item(TableName=TABLES["accounts"], Item=_account("c-1", 500))
    records = _stream_length(client)

    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLES["accounts"], "Item": _account("c-new", 1)}},
            {
                "Update": {
                    "TableName": TABLES["accounts"],
                    "Key": {"contractor_id": {"S": "c-1"}},
                    "UpdateExpression": "SET remaining_cents = remaining_cents - :p",
                    "ConditionExpression": "remaining_cents > :p",
                    "ExpressionAttributeValues": {":p": {"N": "200"}},
                }
            },
        ]
    )

    table = TABLES["accounts"]
    assert "Item" in client.get_item(TableName=table, Key={"contractor_id": {"S": "c-new"}})
    got = client.get_item(TableName=table, Key={"contractor_id": {"S": "c-1"}})["Item"]
    assert got["remaining_cents"] == {"N": "300"}
    assert _stream_length(client) == records + 2
