"""Fixture scheduled handler: records when it ran and emails a report with a PDF."""

from __future__ import annotations

import json
import os
from email.message import EmailMessage
from typing import Any

import boto3

from tests.e2e.fixture_app import clock

_dynamodb = boto3.client("dynamodb")
_ses = boto3.client("sesv2")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    now = clock.now().isoformat()
    _dynamodb.put_item(
        TableName=os.environ["LEDGER_TABLE"],
        Item={
            "contractor_id": {"S": "schedule"},
            "entry_id": {"S": f"weekly#{now}"},
            "recorded_key": {"S": now},
            "recorded_at": {"S": now},
            "payload": {"S": json.dumps(event)},
        },
    )
    message = EmailMessage()
    message["From"] = os.environ["SENDER"]
    message["To"] = "demo@example.com"
    message["Subject"] = f"Weekly run {now}"
    message.set_content("Your weekly invoice is attached.")
    message.add_alternative("<p>Your weekly invoice is attached.</p>", subtype="html")
    message.add_attachment(
        b"%PDF-1.4 fixture", maintype="application", subtype="pdf", filename="invoice.pdf"
    )
    _ses.send_email(
        FromEmailAddress=os.environ["SENDER"],
        Destination={"ToAddresses": ["demo@example.com"]},
        Content={"Raw": {"Data": message.as_bytes()}},
    )
    return {"ran_at": now}
