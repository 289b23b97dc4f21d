"""The search every integration test ends with (``conftest._assert_nothing_stored_leaks``):
a card number or a secret in a table item or an email fails the test that left it."""

from __future__ import annotations

from email.message import EmailMessage

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from tests.integration.conftest import _assert_nothing_stored_leaks
from tests.support.aws import REGION, TABLES, Resources


def test_a_card_number_stored_in_a_table_fails_the_test(aws: Resources) -> None:
    table = boto3.resource("dynamodb").Table(TABLES["quarantine"])
    key = {"quarantine_id": "planted"}
    table.put_item(Item={**key, "reason": "invalid", "image": "card 4000 0566 5566 5556"})

    with pytest.raises(AssertionError, match=r"card number 4000 0…5556 in table test-quarantine"):
        _assert_nothing_stored_leaks()

    table.delete_item(Key=key)
    _assert_nothing_stored_leaks()


def test_a_secret_in_an_email_fails_the_test(aws: Resources) -> None:
    # Given an email sent as the functions send theirs (raw MIME), carrying a secret
    ses = boto3.client("sesv2")
    ses.create_email_identity(EmailIdentity="craftjack.com")
    message = EmailMessage()
    message["Subject"] = "Your invoice"
    message["From"] = "billing@craftjack.com"
    message["To"] = "demo@example.com"
    message.set_content("Stripe key: sk_test_payments")
    message.add_alternative("<p>Stripe key: sk_test_payments</p>", subtype="html")
    ses.send_email(
        FromEmailAddress="billing@craftjack.com",
        Destination={"ToAddresses": ["demo@example.com"]},
        Content={"Raw": {"Data": message.as_bytes()}},
    )

    with pytest.raises(AssertionError, match=r"secret sk_tes…ents in email 'Your invoice'"):
        _assert_nothing_stored_leaks()

    # SES keeps what it sent: forget it, or this test's own end would fail on it.
    ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages.clear()
    _assert_nothing_stored_leaks()
