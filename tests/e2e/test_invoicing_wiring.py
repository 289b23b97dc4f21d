"""What the local stack of `make run` makes of the invoicing resources of the synthesized
template, before any invoice is issued: the Friday schedules of every billing timezone,
the work queue's mapping, Stripe's secret pointing at localstripe and its webhook, the
sender verified in SES with the configuration set, and the sender parameter's default.

None of this depends on what weekly_invoice does with what it receives.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from functions.billing.invoices import BILLING_TIMEZONES
from infra import names
from infra.weekly_invoice import (
    FRIDAY_STRIPE_REQUESTS_PER_SECOND,
    WORK_BATCH_SIZE,
    WORK_MAX_CONCURRENCY,
)
from local.runtime import function_environment
from tests.e2e.conftest import LocalClient

pytestmark = pytest.mark.e2e

WEEKLY_INVOICE = names.FUNCTION_LOGICAL_IDS[names.WEEKLY_INVOICE]


def environment(local: LocalClient) -> dict[str, str]:
    return dict(local.stack.runtime.specs[WEEKLY_INVOICE].environment)


def test_friday_0600_in_chicago_invokes_weekly_invoice_for_chicago(local: LocalClient):
    # Given the clock on Wednesday 2025-03-05 12:00Z, before daylight saving time starts
    assert local.now() == datetime(2025, 3, 5, 12, tzinfo=UTC)
    # When it moves to Friday 06:00 in Chicago (CST, UTC-6)
    local.set_clock("2025-03-07T12:00:00Z")
    # Then each timezone whose Friday 06:00 has come ran once, at its own instant
    runs = [
        (invocation["at"], invocation["event"])
        for invocation in local.invocations()
        if invocation["function"] == WEEKLY_INVOICE and invocation["source"] == "schedule"
    ]
    assert runs == [
        ("2025-03-07T10:00:00+00:00", {"run": "weekly", "timezone": "America/Puerto_Rico"}),
        ("2025-03-07T11:00:00+00:00", {"run": "weekly", "timezone": "America/New_York"}),
        ("2025-03-07T12:00:00+00:00", {"run": "weekly", "timezone": "America/Chicago"}),
    ]


def test_every_billing_timezone_has_its_friday_schedule(local: LocalClient):
    function_name = local.config["functions"][WEEKLY_INVOICE]
    schedules = {
        schedule["timezone"]: schedule
        for schedule in local.config["schedules"]
        if schedule["function"] == function_name
    }
    assert set(schedules) == set(BILLING_TIMEZONES)
    for timezone, schedule in schedules.items():
        assert schedule["name"] == names.weekly_invoice_schedule_logical_id(timezone)
        assert schedule["expression"] == "cron(0 6 ? * FRI *)"
        assert json.loads(schedule["input"]) == {"run": "weekly", "timezone": timezone}


def test_the_work_queue_feeds_weekly_invoice_in_batches_as_many_at_once_as_the_template_says(
    local: LocalClient,
):
    (mapping,) = [
        mapping
        for mapping in local.config["queue_mappings"]
        if mapping["name"] == names.INVOICE_WORK_MAPPING_LOGICAL_ID
    ]
    assert mapping["queue"] == local.config["queues"][names.INVOICE_WORK_QUEUE_LOGICAL_ID]
    assert mapping["queue"] == environment(local)[names.INVOICE_QUEUE_URL]
    assert mapping["function"] == local.config["functions"][WEEKLY_INVOICE]
    assert mapping["batch_size"] == WORK_BATCH_SIZE == 10
    # As many environments at once as the Friday's share of Stripe's rate (each paced)
    assert mapping["concurrency"] == WORK_MAX_CONCURRENCY == FRIDAY_STRIPE_REQUESTS_PER_SECOND
    redrive = local.stack.client("sqs").get_queue_attributes(
        QueueUrl=mapping["queue"], AttributeNames=["RedrivePolicy"]
    )["Attributes"]["RedrivePolicy"]
    assert json.loads(redrive)["deadLetterTargetArn"].endswith(
        f"-{names.INVOICE_WORK_DEAD_LETTER_QUEUE_LOGICAL_ID}"
    )
    assert json.loads(redrive)["maxReceiveCount"] == 5


def test_the_threshold_trigger_hands_only_accounts_written_with_invoice_due(
    local: LocalClient,
):
    accounts = local.table("accounts")
    # Bare items: what weekly_invoice makes of them does not matter here, only what reaches it.
    accounts.put_item(Item={"contractor_id": "wiring-not-due", "invoice_due": False})
    accounts.put_item(Item={"contractor_id": "wiring-due", "invoice_due": True})
    local.advance(1)
    accounts.update_item(
        Key={"contractor_id": "wiring-not-due"},
        UpdateExpression="SET invoice_due = :due",
        ExpressionAttributeValues={":due": True},
    )
    local.advance(1)

    delivered = {
        (record["eventName"], record["dynamodb"]["NewImage"]["contractor_id"]["S"])
        for invocation in local.invocations()
        if invocation["function"] == WEEKLY_INVOICE and invocation["source"] == "stream"
        for record in invocation["event"]["Records"]
    }
    assert delivered == {("INSERT", "wiring-due"), ("MODIFY", "wiring-not-due")}


def test_stripes_secret_points_the_functions_at_localstripe(local: LocalClient):
    env = environment(local)
    secret_arn = env[names.STRIPE_SECRET_NAME]
    assert local.config["secrets"][names.STRIPE_SECRET_LOGICAL_ID] == secret_arn

    value = json.loads(
        local.stack.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
    )
    assert value["api_key"] == "sk_test_local"
    assert value["webhook_secret"].startswith("whsec_local")
    assert len(value["webhook_secret"]) > len("whsec_local") + 16
    assert value["api_base"] == local.stack.stripe_endpoint


def test_a_function_reads_the_secret_through_powertools_and_the_local_endpoint(
    local: LocalClient,
):
    # In weekly_invoice's own environment, as its worker has it.
    spec = local.stack.runtime.specs[WEEKLY_INVOICE]
    env = function_environment(spec, local.stack.aws_endpoint, local.stack.root)
    script = (
        "import json, os\n"
        "from functions.adapters.secrets import stripe_secrets\n"
        "s = stripe_secrets(os.environ['STRIPE_SECRET_NAME'])\n"
        "print(json.dumps({'api_base': s.api_base, 'local_key': s.api_key == 'sk_test_local'}))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=local.stack.root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == {
        "api_base": local.stack.stripe_endpoint,
        "local_key": True,
    }


def test_localstripe_sends_its_webhooks_to_the_gateway(local: LocalClient):
    webhook = local.config["stripe_webhook"]
    assert webhook["url"] == f"{local.api}/webhooks/stripe"

    # When something happens in Stripe
    created = requests.post(
        f"{local.stack.stripe_endpoint}/v1/customers",
        data={"email": "webhook@example.com"},
        auth=("sk_test_local", ""),
        timeout=30,
    )
    assert created.status_code == 200, created.text
    # Then localstripe delivers the event to the gateway (whose route comes with the API).
    log_path = local.stack.state_dir / "logs" / f"stripe-{local.stack.stripe_port}.log"
    deadline = time.monotonic() + 15
    while 'webhook "customer.created"' not in log_path.read_text():
        assert time.monotonic() < deadline, log_path.read_text()[-2000:]
        time.sleep(0.2)


def test_the_sender_domain_is_verified_and_the_configuration_set_exists(local: LocalClient):
    env = environment(local)
    # The EmailSender parameter resolves to its default.
    assert env[names.EMAIL_SENDER] == "billing@craftjack.com"
    assert "craftjack.com" in local.config["email_identities"]
    ses = local.stack.client("sesv2")
    configuration_set = env[names.EMAIL_CONFIGURATION_SET]
    assert configuration_set == f"LeadBilling-{names.INVOICE_EMAILS_LOGICAL_ID}"
    assert ses.get_configuration_set(ConfigurationSetName=configuration_set)[
        "ConfigurationSetName"
    ] == (configuration_set)

    # Sending as the function does: from the sender, with the configuration set.
    ses.send_email(
        FromEmailAddress=env[names.EMAIL_SENDER],
        Destination={"ToAddresses": ["wiring@example.com"]},
        Content={
            "Simple": {
                "Subject": {"Data": "Wiring check"},
                "Body": {"Text": {"Data": "Sent from the local stack's sender."}},
            }
        },
        ConfigurationSetName=configuration_set,
    )
    sent: list[dict[str, Any]] = [m for m in local.emails() if m["subject"] == "Wiring check"]
    assert [(m["from"], m["to"]) for m in sent] == [
        ("billing@craftjack.com", ["wiring@example.com"])
    ]
