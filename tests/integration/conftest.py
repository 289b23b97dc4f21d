from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from local.moto_atomic import make_dynamodb_atomic
from local.processes import free_port, start_stripe
from tests.conftest import KNOWN_SECRETS
from tests.support.aws import ENVIRONMENT, REGION, TABLES, Resources, create_resources
from tests.support.cards import API_KEY
from tests.support.leaks import email_leaks, table_leaks


class Clock:
    """The functions' clock (``functions.adapters.clock.now``), set by the test."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def set(self, iso: str) -> None:
        self.current = datetime.fromisoformat(iso).astimezone(UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock(datetime(2026, 11, 20, 15, 0, tzinfo=UTC))
    monkeypatch.setattr("functions.adapters.clock.now", clock.now)
    return clock


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Resources]:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    make_dynamodb_atomic()
    with mock_aws():
        resources = create_resources()
        monkeypatch.setenv("QUARANTINE_QUEUE_URL", resources.quarantine_queue_url)
        yield resources
        _assert_nothing_stored_leaks()


def _assert_nothing_stored_leaks() -> None:
    """No card number and no secret in any table item or email the test left."""
    _, found = table_leaks(boto3.client("dynamodb"), KNOWN_SECRETS)
    found += email_leaks(
        message.raw_data for message in ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    )
    assert not found, "card numbers or secrets stored:\n" + "\n".join(f"  {x}" for x in found)


@pytest.fixture
def on_lead(aws: Resources, clock: Clock) -> ModuleType:
    """The real on_lead handler module, initialised against this test's resources."""
    import functions.on_lead.handler as module

    return importlib.reload(module)


def with_stripe_secret(
    monkeypatch: pytest.MonkeyPatch, name: str, localstripe: str, webhook_secret: str
) -> None:
    """A Stripe secret pointing at localstripe, named in the function's environment, with
    the invoices table every paying function reads."""
    secret = boto3.client("secretsmanager").create_secret(
        Name=name,
        SecretString=json.dumps(
            {"api_key": API_KEY, "webhook_secret": webhook_secret, "api_base": localstripe}
        ),
    )
    monkeypatch.setenv("INVOICES_TABLE", TABLES["invoices"])
    monkeypatch.setenv("STRIPE_SECRET_NAME", secret["ARN"])


def with_mail_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    boto3.client("sesv2").create_email_identity(EmailIdentity="craftjack.com")
    monkeypatch.setenv("EMAIL_SENDER", "billing@craftjack.com")
    monkeypatch.setenv("EMAIL_CONFIGURATION_SET", "test-invoice-emails")


@pytest.fixture
def api(
    aws: Resources, clock: Clock, localstripe: str, monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    """The real operator API handler module, initialised against this test's resources."""
    with_stripe_secret(monkeypatch, "test-stripe-api", localstripe, "whsec_api")
    import functions.api.handler as module

    return importlib.reload(module)


@pytest.fixture(scope="session")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """localstripe on a free port, for the tests of a worker process."""
    log = tmp_path_factory.mktemp("localstripe") / "localstripe.log"
    emulator = start_stripe(free_port(), log, Path(__file__).resolve().parents[2])
    try:
        emulator.wait_ready("/js.stripe.com/v3/")
        yield emulator.url
    finally:
        emulator.stop()


@pytest.fixture
def weekly_invoice(
    aws: Resources, clock: Clock, localstripe: str, monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    """The real weekly_invoice handler module, with its secret, queue and mail sender."""
    with_stripe_secret(monkeypatch, "test-stripe", localstripe, "whsec_test")
    with_mail_sender(monkeypatch)
    queue = boto3.client("sqs").create_queue(QueueName="test-invoice-work")["QueueUrl"]
    monkeypatch.setenv("INVOICE_QUEUE_URL", queue)
    import functions.weekly_invoice.handler as module

    return importlib.reload(module)


CARD_UPDATED_WEBHOOK_SECRET = "whsec_card_updated"


@pytest.fixture
def card_updated(
    aws: Resources, clock: Clock, localstripe: str, monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    """The real card_updated handler module, with its secret (whose webhook secret is
    ``CARD_UPDATED_WEBHOOK_SECRET``) and mail sender."""
    with_stripe_secret(
        monkeypatch, "test-stripe-card-updated", localstripe, CARD_UPDATED_WEBHOOK_SECRET
    )
    with_mail_sender(monkeypatch)
    import functions.card_updated.handler as module

    return importlib.reload(module)


@pytest.fixture
def budget_reset(aws: Resources, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The real budget_reset handler module, with its mail sender."""
    with_mail_sender(monkeypatch)
    import functions.budget_reset.handler as module

    return importlib.reload(module)


@pytest.fixture
def grace_check(
    aws: Resources, clock: Clock, localstripe: str, monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    """The real grace_check handler module, with its Stripe secret and mail sender."""
    with_stripe_secret(monkeypatch, "test-stripe-grace-check", localstripe, "whsec_grace")
    with_mail_sender(monkeypatch)
    import functions.grace_check.handler as module

    return importlib.reload(module)


@pytest.fixture
def billing(
    weekly_invoice: ModuleType,
    on_lead: ModuleType,
    grace_check: ModuleType,
    card_updated: ModuleType,
) -> dict[str, ModuleType]:
    """The functions that bill, retry and take the card, against the same resources."""
    return {
        "weekly_invoice": weekly_invoice,
        "on_lead": on_lead,
        "grace_check": grace_check,
        "card_updated": card_updated,
    }


@pytest.fixture
def notify(aws: Resources, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The real notify handler module, with its mail sender."""
    with_mail_sender(monkeypatch)
    import functions.notify.handler as module

    return importlib.reload(module)


@pytest.fixture
def reconcile(
    aws: Resources, clock: Clock, localstripe: str, monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    """The real reconcile handler module, with its Stripe secret and mail sender."""
    with_stripe_secret(monkeypatch, "test-stripe-reconcile", localstripe, "whsec_test")
    with_mail_sender(monkeypatch)
    import functions.reconcile.handler as module

    return importlib.reload(module)


@pytest.fixture
def republish(aws: Resources, clock: Clock) -> ModuleType:
    """The real republish handler module: puts the unpublished events queue's entries on
    the bus again."""
    import functions.republish.handler as module

    return importlib.reload(module)
