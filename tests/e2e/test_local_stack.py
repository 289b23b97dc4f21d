"""The local stack end to end, over the fixture template: emulators, gateway, workers,
stream pump, event routing, scheduler and mail, all started as ``make run`` starts them.

Tests of one module share one stack and its clock, which only moves forward, so each
test uses its own contractor and leads; the schedule test sets absolute instants after
the fixed start of the clock.
"""

from __future__ import annotations

import email.policy
import json
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, cast

import pytest
import requests

from functions.adapters.models import AccountModel
from infra import names
from tests.e2e.conftest import CLOCK_START, LocalClient

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("client_fixture", ["fixture_client", "local"])
def test_the_local_endpoints_answer(client_fixture, request):
    """Config, clock (forward only), tokens, and an admin route refusing the anonymous."""
    client: LocalClient = request.getfixturevalue(client_fixture)
    config = client.http.get(f"{client.api}/_local/config", timeout=30).json()
    assert config["api_endpoint"] == client.api
    assert config["aws_endpoint"] == client.stack.aws_endpoint
    assert config["stripe_endpoint"] == client.stack.stripe_endpoint
    assert set(config["tables"]) >= {"accounts", "ledger", "leads", "quarantine"}
    assert config["event_bus"]
    tables = client.stack.client("dynamodb").list_tables()["TableNames"]
    assert {config["tables"][key] for key in ("accounts", "ledger", "leads", "quarantine")} <= set(
        tables
    )

    before = client.now()
    assert client.advance(60) == before + timedelta(seconds=60)
    backwards = client.http.post(
        f"{client.api}/_local/clock", json={"set": before.isoformat()}, timeout=30
    )
    assert backwards.status_code == 400
    assert client.now() == before + timedelta(seconds=60)

    token = client.token(role="admin")
    assert token.count(".") == 2
    anonymous = client.request("POST", "/admin/accounts", json={"contractor_id": "nobody"})
    assert anonymous.status_code == 403


def test_clock_requests_that_are_not_moves_are_refused(fixture_client):
    for body in (
        {},
        {"set": "2020-01-01T00:00:00Z", "advance_seconds": 1},
        {"advance_seconds": "1"},
        {"set": "not a date"},
        {"advance_seconds": -1},
    ):
        response = fixture_client.http.post(
            f"{fixture_client.api}/_local/clock", json=body, timeout=30
        )
        assert response.status_code == 400, body


def test_tables_and_queues_carry_the_template_names(fixture_client):
    config = fixture_client.config
    assert config["tables"] == {
        "accounts": "LocalFixture-AccountsTable3C4B5D6E",
        "ledger": "LocalFixture-LedgerTableA1B2C3D4",
        "leads": "LocalFixture-leads",
        "quarantine": "LocalFixture-QuarantineTable",
    }
    assert config["event_bus"] == "LocalFixture-billing"
    assert config["queues"]["StreamFailures"].endswith("/LocalFixture-StreamFailures")
    stream = fixture_client.stack.client("dynamodb").describe_table(TableName="LocalFixture-leads")
    assert stream["Table"]["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"


def test_admin_routes_take_only_an_admin_token(fixture_client):
    contractor = fixture_client.contractor_token("c-auth")
    garbage = fixture_client.request("POST", "/admin/accounts", token="not-a-jwt", json={})
    assert garbage.status_code == 403
    assert (
        fixture_client.request(
            "POST", "/admin/accounts", token=contractor, json={"contractor_id": "c-auth"}
        ).status_code
        == 403
    )
    created = fixture_client.create_account(contractor_id="c-auth")
    assert created.status_code == 201, created.text
    assert fixture_client.get_account("c-auth").json()["contractor_id"] == "c-auth"


def test_contractor_routes_take_only_a_contractor_token_and_see_its_claims(fixture_client):
    assert fixture_client.request("GET", "/me").status_code == 401
    # An admin token is no token of the user pool.
    assert (
        fixture_client.request("GET", "/me", token=fixture_client.admin_token()).status_code == 401
    )
    no_scope = fixture_client.token(contractor_id="c-me", scope="other/scope")
    assert fixture_client.request("GET", "/me", token=no_scope).status_code == 401
    response = fixture_client.request("GET", "/me", token=fixture_client.contractor_token("c-me"))
    assert response.status_code == 200
    body = response.json()
    assert body["contractor_id"] == "c-me"
    assert body["claims"]["scope"] == "billing/read"
    assert re.fullmatch(r"\w{3} \w{3} \d{2} \d{2}:\d{2}:\d{2} UTC \d{4}", body["claims"]["exp"])


def test_paths_and_methods_the_api_does_not_have(fixture_client):
    for method, path in (("GET", "/nowhere"), ("DELETE", "/admin/accounts")):
        response = fixture_client.request(method, path, token=fixture_client.admin_token())
        assert response.status_code == 403
        assert response.json() == {
            "error": "missing_authentication_token",
            "message": "Missing Authentication Token",
        }
    preflight = fixture_client.request("OPTIONS", "/me")
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"


def test_a_function_sees_its_template_environment_and_the_simulated_clock(fixture_client):
    response = fixture_client.request("GET", "/debug/env?a=1&a=2&b=3", headers={"X-Trace": "t"})
    assert response.status_code == 200
    body = response.json()
    values = body["values"]
    assert values["AWS_ENDPOINT_URL"] == fixture_client.stack.aws_endpoint
    assert values["AWS_DEFAULT_REGION"] == "us-east-1"
    assert values["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert values["POWERTOOLS_METRICS_NAMESPACE"] == "LeadBilling"
    assert values["AWS_LAMBDA_FUNCTION_NAME"] == "LocalFixture-ApiFunction"
    leaked = [k for k in body["environment"] if k.startswith(("LOCAL_", "PYTEST", "VIRTUAL_ENV"))]
    assert leaked == []
    assert "ACCOUNTS_TABLE" in body["environment"] and "QUARANTINE_TABLE" not in body["environment"]
    assert body["function_name"] == "LocalFixture-ApiFunction"
    assert body["memory"] == "512"
    assert 0 < body["remaining_ms"] <= 10_000
    assert datetime.fromisoformat(body["now"]) == fixture_client.now()
    assert body["query"] == {"a": "2", "b": "3"}
    context = body["request_context"]
    assert context["stage"] == "v1" and context["path"] == "/v1/debug/env"
    assert context["identity"]["sourceIp"] == "127.0.0.1"


def test_a_delivered_lead_flows_through_the_stream_and_the_event_bus(fixture_client):
    fixture_client.create_account(contractor_id="c-lead")
    lead = fixture_client.put_lead(contractor_id="c-lead", price_cents=4500)
    written_at = fixture_client.now()
    fixture_client.advance(1)
    assert fixture_client.get_account("c-lead").json()["spent_cents"] == 4500

    ledger = fixture_client.table("ledger")
    charge = ledger.get_item(Key={"contractor_id": "c-lead", "entry_id": f"lead#{lead}"})["Item"]
    assert charge["recorded_at"] == written_at.isoformat()  # processed at the instant written
    events = [e for e in fixture_client.events() if e["detail"].get("lead_id") == lead]
    assert [e["detail-type"] for e in events] == ["LeadCharged"]
    routed = ledger.get_item(Key={"contractor_id": "c-lead", "entry_id": f"event#{lead}"})
    assert "Item" in routed  # the rule on the bus invoked its target function


def test_the_stream_filter_drops_leads_that_do_not_match(fixture_client):
    fixture_client.create_account(contractor_id="c-filter")
    before = len(fixture_client.invocations())
    lead = fixture_client.put_lead(contractor_id="c-filter", category="test")
    fixture_client.table("leads").update_item(
        Key={"lead_id": lead},
        UpdateExpression="SET category = :c",
        ExpressionAttributeValues={":c": "roofing"},
    )  # a MODIFY, which the INSERT-only filter drops too
    fixture_client.advance(1)
    assert fixture_client.get_account("c-filter").json()["spent_cents"] == 0
    stream_invocations = [
        i for i in fixture_client.invocations()[before:] if i["source"] == "stream"
    ]
    assert stream_invocations == []


def test_a_failing_lead_is_retried_then_sent_to_the_failure_queue(fixture_client):
    fixture_client.create_account(contractor_id="c-fail")
    bad = fixture_client.put_lead(contractor_id="c-fail", crash=True)
    good = fixture_client.put_lead(contractor_id="c-fail", price_cents=1000)
    fixture_client.advance(1)
    assert fixture_client.get_account("c-fail").json()["spent_cents"] == 1000

    sqs = fixture_client.stack.client("sqs")
    url = fixture_client.config["queues"]["StreamFailures"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    bodies = [json.loads(m["Body"]) for m in messages]
    (failure,) = [b for b in bodies if b["DDBStreamBatchInfo"]["batchSize"] == 1]
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 3  # 1 + MaximumRetryAttempts
    assert failure["responseContext"]["functionError"] == "Unhandled"
    info = failure["DDBStreamBatchInfo"]
    assert info["streamArn"].startswith(
        "arn:aws:dynamodb:us-east-1:123456789012:table/LocalFixture-leads/stream/"
    )
    streams = fixture_client.stack.client("dynamodbstreams")
    iterator = streams.get_shard_iterator(
        StreamArn=info["streamArn"],
        ShardId=info["shardId"],
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        SequenceNumber=info["startSequenceNumber"],
    )["ShardIterator"]
    record = streams.get_records(ShardIterator=iterator, Limit=1)["Records"][0]
    assert record["dynamodb"]["Keys"]["lead_id"]["S"] == bad
    assert good != bad


def _work_items(client: LocalClient, prefix: str) -> dict[str, dict[str, str]]:
    """What the fixture queue consumer recorded: ``message#<id>#<receive>`` and
    ``invocation#<request id>`` items."""
    items = client.table("ledger").query(
        KeyConditionExpression="contractor_id = :c AND begins_with(entry_id, :p)",
        ExpressionAttributeValues={":c": "work", ":p": prefix},
    )["Items"]
    return {item["entry_id"]: item for item in items}


def _queue_is_drained(client: LocalClient, queue: str) -> bool:
    attributes = client.stack.client("sqs").get_queue_attributes(
        QueueUrl=client.config["queues"][queue],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return attributes == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }


def _sqs_invocations(client: LocalClient, prefix: str) -> list[dict[str, Any]]:
    return [
        invocation
        for invocation in client.invocations()
        if invocation["function"] == "WorkFunction"
        and invocation["source"] == "sqs"
        and any(
            json.loads(r["body"])["id"].startswith(prefix) for r in invocation["event"]["Records"]
        )
    ]


def test_a_queue_mapping_delivers_batches_side_by_side_and_the_clock_waits_for_them(
    fixture_client,
):
    sqs = fixture_client.stack.client("sqs")
    url = fixture_client.config["queues"]["WorkQueue"]
    bodies = [{"kind": "work", "id": f"batch-{n:02}", "sleep": 0.2} for n in range(12)]
    for start in (0, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {
                    "Id": str(index),
                    "MessageBody": json.dumps(body),
                    "MessageAttributes": {"origin": {"DataType": "String", "StringValue": "e2e"}},
                }
                for index, body in enumerate(bodies[start : start + 10])
            ],
        )

    fixture_client.advance(1)

    # The clock answered only once the queue was drained and every batch had returned.
    assert _queue_is_drained(fixture_client, "WorkQueue")
    items = _work_items(fixture_client, "message#batch-")
    assert sorted(items) == [f"message#{body['id']}#1" for body in bodies]
    invocations = _sqs_invocations(fixture_client, "batch-")
    assert all(invocation["ok"] for invocation in invocations)
    sizes = [len(invocation["event"]["Records"]) for invocation in invocations]
    assert sum(sizes) == 12 and max(sizes) <= 3  # BatchSize
    spans = [
        _work_items(fixture_client, f"invocation#{invocation['request_id']}")
        for invocation in invocations
    ]
    intervals = [
        (float(span["started"]), float(span["ended"])) for found in spans for span in found.values()
    ]
    most_at_once = max(
        sum(1 for start, end in intervals if start <= moment < end) for moment, _ in intervals
    )
    assert most_at_once == 2  # ScalingConfig.MaximumConcurrency

    record = invocations[0]["event"]["Records"][0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:LocalFixture-WorkQueue"
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["origin"]["stringValue"] == "e2e"
    assert {"messageId", "receiptHandle", "md5OfBody"} <= set(record)


@pytest.mark.parametrize(
    ("message", "recorded"),
    [
        ({"kind": "work", "id": "redrive-reported", "fail": True}, 2),
        ({"kind": "work", "id": "redrive-raised", "raise": True}, 0),
    ],
)
def test_a_failed_message_is_received_again_until_the_redrive_policy_dead_letters_it(
    fixture_client, message, recorded
):
    sqs = fixture_client.stack.client("sqs")
    sqs.send_message(
        QueueUrl=fixture_client.config["queues"]["WorkQueue"], MessageBody=json.dumps(message)
    )

    fixture_client.advance(1)

    assert _queue_is_drained(fixture_client, "WorkQueue")
    assert len(_sqs_invocations(fixture_client, message["id"])) == 2  # maxReceiveCount
    assert len(_work_items(fixture_client, f"message#{message['id']}#")) == recorded
    dead = sqs.receive_message(
        QueueUrl=fixture_client.config["queues"]["WorkDeadLetters"], MaxNumberOfMessages=10
    ).get("Messages", [])
    assert [json.loads(m["Body"]) for m in dead] == [message]
    for found in dead:
        sqs.delete_message(
            QueueUrl=fixture_client.config["queues"]["WorkDeadLetters"],
            ReceiptHandle=found["ReceiptHandle"],
        )


def test_a_message_the_filters_do_not_match_is_deleted_without_an_invocation(fixture_client):
    sqs = fixture_client.stack.client("sqs")
    sqs.send_message(
        QueueUrl=fixture_client.config["queues"]["WorkQueue"],
        MessageBody=json.dumps({"kind": "noise", "id": "filtered-out"}),
    )

    fixture_client.advance(1)

    assert _queue_is_drained(fixture_client, "WorkQueue")
    assert _sqs_invocations(fixture_client, "filtered-out") == []


def test_schedules_fire_in_order_at_their_instants_and_mail_is_readable(fixture_client):
    # The clock starts on Wednesday 2025-03-05; Fridays at midnight in Chicago are
    # 2025-03-07T06:00Z (CST) and 2025-03-14T05:00Z (CDT, after the change on the 9th).
    assert fixture_client.now() < datetime(2025, 3, 6, tzinfo=UTC)
    assert fixture_client.set_clock("2025-03-15T00:00:00Z") == datetime(2025, 3, 15, tzinfo=UTC)

    ledger = fixture_client.table("ledger")
    runs = ledger.query(
        KeyConditionExpression="contractor_id = :c",
        ExpressionAttributeValues={":c": "schedule"},
    )["Items"]
    assert [r["recorded_at"] for r in runs] == [
        "2025-03-07T06:00:00+00:00",
        "2025-03-14T05:00:00+00:00",
    ]
    assert json.loads(runs[0]["payload"]) == {
        "kind": "weekly",
        "scheduled_time": "2025-03-07T06:00:00Z",
    }

    mails = [m for m in fixture_client.emails() if m["subject"].startswith("Weekly run")]
    assert [m["sent_at"] for m in mails] == [
        "2025-03-07T06:00:00+00:00",
        "2025-03-14T05:00:00+00:00",
    ]
    first = mails[0]
    assert first["to"] == ["demo@example.com"]
    assert first["text"].strip() == "Your weekly invoice is attached."
    assert "<p>" in first["html"]
    (attachment,) = first["attachments"]
    assert attachment["filename"] == "invoice.pdf"
    assert attachment["content_type"] == "application/pdf"
    assert Path(attachment["path"]).read_bytes() == b"%PDF-1.4 fixture"
    # A person opens the email as a mail client shows it, beside its attachments.
    folder = Path(attachment["path"]).parent
    assert folder.parent == Path(fixture_client.config["emails_directory"])
    assert Path(first["html_path"]) == folder / "message.html"
    assert (folder / "message.html").read_text() == first["html"]


def test_the_stack_refuses_to_start_on_a_port_in_use(fixture_stack, tmp_path):
    from local.stack import LocalStack

    clash = LocalStack(
        api_port=fixture_stack.api_port,
        aws_port=1,
        stripe_port=2,
        state_dir=tmp_path,
        template_path=fixture_stack.template_path,
    )
    with pytest.raises(RuntimeError, match="in use"):
        clash.start()
    # The running stack is untouched.
    assert requests.get(f"{fixture_stack.api_url}/_local/clock", timeout=30).status_code == 200


def test_the_clock_started_where_it_was_told(fixture_stack):
    assert fixture_stack.clock_start == CLOCK_START


# ----------------------------------------------------------------------- R14 notices, real stack


def _keys(key_schema: list[dict[str, str]]) -> dict[str, str]:
    return {key["KeyType"]: key["AttributeName"] for key in key_schema}


def test_the_real_stack_has_the_notices_table_and_the_card_expiry_index(local):
    dynamodb = local.stack.client("dynamodb")
    notices = dynamodb.describe_table(TableName=local.config["tables"]["notices"])["Table"]
    accounts = dynamodb.describe_table(TableName=local.config["tables"]["accounts"])["Table"]
    (card_expiry,) = [
        index for index in accounts["GlobalSecondaryIndexes"] if index["IndexName"] == "card_expiry"
    ]
    (declared,) = [
        index
        for index in cast(dict[str, Any], AccountModel._get_schema())["global_secondary_indexes"]
        if index["index_name"] == "card_expiry"
    ]

    assert _keys(notices["KeySchema"]) == {"HASH": "contractor_id", "RANGE": "notice_id"}
    assert "StreamSpecification" not in notices
    assert _keys(card_expiry["KeySchema"]) == {"HASH": "card_expires", "RANGE": "contractor_id"}
    assert card_expiry["Projection"] == declared["projection"]


def test_the_real_stack_runs_notify_on_the_accounts_stream_with_its_mapping(local):
    functions = local.config["functions"]
    notify = functions[names.FUNCTION_LOGICAL_IDS[names.NOTIFY]]
    (mapping,) = [m for m in local.config["stream_mappings"] if m["function"] == notify]

    assert mapping["table"] == local.config["tables"]["accounts"]
    assert mapping["filters"] == [{"eventName": ["MODIFY"]}]
    assert mapping["batch_size"] == 50
    assert mapping["on_failure"].endswith(
        ":" + local.config["queues"][names.NOTIFY_FAILURE_QUEUE_LOGICAL_ID].rsplit("/", 1)[-1]
    )
    # The accounts stream has its two readers: the threshold trigger and notify.
    assert sorted(
        m["function"]
        for m in local.config["stream_mappings"]
        if m["table"] == local.config["tables"]["accounts"]
    ) == sorted([functions[names.FUNCTION_LOGICAL_IDS[names.WEEKLY_INVOICE]], notify])
    environment = local.stack.runtime.specs[names.FUNCTION_LOGICAL_IDS[names.NOTIFY]].environment
    assert environment[names.NOTICES_TABLE] == local.config["tables"]["notices"]
    assert environment[names.EMAIL_SENDER] == "billing@craftjack.com"


def test_notify_receives_modified_accounts_with_both_images_and_not_new_ones(local):
    notify = names.FUNCTION_LOGICAL_IDS[names.NOTIFY]
    created = local.create_account(contractor_id="notify-wiring")
    assert created.status_code == 201, created.text
    local.advance(1)
    local.table("accounts").update_item(
        Key={"contractor_id": "notify-wiring"},
        UpdateExpression="SET business_name = :name",
        ExpressionAttributeValues={":name": "Renamed Roofing LLC"},
    )
    local.advance(1)

    # What the function makes of them does not matter here, only what reaches it.
    delivered = {
        (
            record["eventName"],
            record["dynamodb"]["OldImage"]["business_name"]["S"],
            record["dynamodb"]["NewImage"]["business_name"]["S"],
        )
        for invocation in local.invocations()
        if invocation["function"] == notify and invocation["source"] == "stream"
        for record in invocation["event"]["Records"]
        if record["dynamodb"]["Keys"]["contractor_id"]["S"] == "notify-wiring"
    }
    # Opening the account is an INSERT (then a MODIFY when its Stripe customer is set).
    assert {event_name for event_name, _, _ in delivered} == {"MODIFY"}
    assert ("MODIFY", "Demo Roofing LLC", "Renamed Roofing LLC") in delivered


@pytest.mark.parametrize("transfer_encoding", ["quoted-printable", "8bit"])
def test_a_notice_email_is_written_readably_as_its_text_and_html(local, transfer_encoding):
    """A notice is multipart/alternative, text and HTML in UTF-8, with no attachment, sent
    raw through SES v2 as the functions send (``functions/adapters/mailer.py``)."""
    environment = local.stack.runtime.specs[names.FUNCTION_LOGICAL_IDS[names.NOTIFY]].environment
    to = f"notice-{transfer_encoding}@example.com"
    notice = EmailMessage()
    notice["From"] = environment[names.EMAIL_SENDER]
    notice["To"] = to
    notice["Subject"] = "Tu presupuesto llegó al 75 %"
    notice.set_content(
        "Tu presupuesto de este mes llegó al 75 %: quedan $250.00.",
        charset="utf-8",
        cte=transfer_encoding,
    )
    notice.add_alternative(
        "<html><body><p>Tu presupuesto llegó al <b>75 %</b>.</p></body></html>",
        subtype="html",
        charset="utf-8",
        cte=transfer_encoding,
    )

    local.stack.client("sesv2").send_email(
        FromEmailAddress=environment[names.EMAIL_SENDER],
        Destination={"ToAddresses": [to]},
        Content={"Raw": {"Data": notice.as_bytes(policy=email.policy.SMTP)}},
        ConfigurationSetName=environment[names.EMAIL_CONFIGURATION_SET],
    )

    (sent,) = [m for m in local.emails() if m["to"] == [to]]
    assert sent["subject"] == "Tu presupuesto llegó al 75 %"
    assert sent["attachments"] == []
    folder = Path(sent["text_path"]).parent
    assert folder.parent == Path(local.config["emails_directory"])
    assert sorted(path.name for path in folder.iterdir()) == ["message.html", "message.txt"]
    assert (folder / "message.txt").read_text(encoding="utf-8").strip() == (
        "Tu presupuesto de este mes llegó al 75 %: quedan $250.00."
    )
    assert "<b>75 %</b>" in (folder / "message.html").read_text(encoding="utf-8")
