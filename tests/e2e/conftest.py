"""End-to-end fixtures: the local stack on free ports, and a client that keeps a billing
scenario to a few lines.

``local`` runs the real stack (the synthesized ``cdk.out/LeadBilling.template.json`` and
the handlers of ``functions/``)::

    def test_a_delivered_lead_is_charged(local):
        local.create_account()
        local.put_lead(price_cents=4500)
        local.advance(1)  # the streams settle before the clock answers
        assert local.get_account().json()["budget"]["spent_cents"] == 4500

``fixture_client`` runs the same machinery over the hand-written template of
``fixture_app/``, so that the local stack is tested without depending on ``infra/``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from boto3.dynamodb.types import TypeSerializer

from local.clock import parse_instant
from local.demo import DEMO_ACCOUNT
from local.processes import free_port
from local.stack import REPO_ROOT, LocalStack
from tests.conftest import KNOWN_SECRETS
from tests.support.leaks import email_leaks, leaks, table_leaks

FIXTURE_TEMPLATE = Path(__file__).parent / "fixture_app" / "LocalFixture.template.json"
FIXTURE_CLOCK = "tests.e2e.fixture_app.clock"
# Tests start from a known instant (a Wednesday) so that schedules fire reproducibly.
CLOCK_START = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)

# A delivered lead as the lead distribution system writes it (functions/billing/leads.py);
# put_lead's keywords override these.
LEAD_DEFAULTS: dict[str, Any] = {
    "contractor_id": DEMO_ACCOUNT["contractor_id"],
    "category": "roofing",
    "price_cents": 4500,
}


class LocalClient:
    """Drives a running LocalStack the way a person or another system would: HTTP on the
    gateway, boto3 on the AWS endpoint."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.api = stack.api_url
        self.http = requests.Session()
        self.config: dict[str, Any] = self.http.get(f"{self.api}/_local/config", timeout=30).json()
        self._admin_token: str | None = None

    # -------------------------------------------------------------- tokens and HTTP

    def token(self, **claims: Any) -> str:
        response = self.http.post(f"{self.api}/_local/token", json=claims, timeout=30)
        response.raise_for_status()
        return str(response.json()["token"])

    def admin_token(self) -> str:
        if self._admin_token is None:
            self._admin_token = self.token(role="admin")
        return self._admin_token

    def contractor_token(self, contractor_id: str = DEMO_ACCOUNT["contractor_id"]) -> str:
        return self.token(contractor_id=contractor_id)

    def request(
        self, method: str, path: str, *, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(
            method, f"{self.api}{path}", headers=headers, timeout=120, **kwargs
        )

    def admin(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.request(method, path, token=self.admin_token(), **kwargs)

    # -------------------------------------------------------------- the scenario

    def create_account(self, **fields: Any) -> requests.Response:
        """POST /admin/accounts with the demo account's fields, overridden by ``fields``."""
        return self.admin("POST", "/admin/accounts", json={**DEMO_ACCOUNT, **fields})

    def get_account(self, contractor_id: str = DEMO_ACCOUNT["contractor_id"]) -> requests.Response:
        return self.admin("GET", f"/admin/accounts/{contractor_id}")

    def put_lead(self, lead_id: str | None = None, **attributes: Any) -> str:
        """Write a delivered lead to the Leads table (``LEAD_DEFAULTS`` overridden by
        ``attributes``; ``delivered_at`` defaults to the simulated now); its id."""
        lead_id = lead_id or f"lead-{uuid.uuid4().hex[:12]}"
        item = {"lead_id": lead_id, **LEAD_DEFAULTS, "delivered_at": self.now().isoformat()}
        item.update(attributes)
        serializer = TypeSerializer()
        self.stack.client("dynamodb").put_item(
            TableName=self.config["tables"]["leads"],
            Item={key: serializer.serialize(value) for key, value in item.items()},
        )
        return lead_id

    # -------------------------------------------------------------- the clock

    def now(self) -> datetime:
        return parse_instant(self.http.get(f"{self.api}/_local/clock", timeout=30).json()["now"])

    def advance(self, seconds: float = 1) -> datetime:
        """Move the clock forward; answers once schedules fired and streams settled."""
        response = self.http.post(
            f"{self.api}/_local/clock", json={"advance_seconds": seconds}, timeout=600
        )
        response.raise_for_status()
        return parse_instant(response.json()["now"])

    def set_clock(self, instant: datetime | str) -> datetime:
        text = instant if isinstance(instant, str) else instant.isoformat()
        response = self.http.post(f"{self.api}/_local/clock", json={"set": text}, timeout=600)
        response.raise_for_status()
        return parse_instant(response.json()["now"])

    # -------------------------------------------------------------- what happened

    def emails(self) -> list[dict[str, Any]]:
        return list(self.http.get(f"{self.api}/_local/emails", timeout=60).json()["items"])

    def events(self) -> list[dict[str, Any]]:
        return list(self.http.get(f"{self.api}/_local/events", timeout=30).json()["items"])

    def facts(self) -> list[dict[str, Any]]:
        """The events the bus received, one per event id, as a consumer keeps them: a fact
        announced again under its id (a pause by its writer and by notify from the accounts
        stream, an input delivered again) is the same fact, and every copy carries the
        same detail."""
        kept: dict[str, dict[str, Any]] = {}
        for event in self.events():
            first = kept.setdefault(event["detail"]["event_id"], event)
            assert (first["detail-type"], first["detail"]) == (
                event["detail-type"],
                event["detail"],
            ), f"one event id, two facts: {first} and {event}"
        return list(kept.values())

    def invocations(self) -> list[dict[str, Any]]:
        return list(self.http.get(f"{self.api}/_local/invocations", timeout=30).json()["items"])

    def table(self, key: str) -> Any:
        """A boto3 Table resource for ``tables[key]`` (accounts, ledger, leads, quarantine)."""
        import boto3

        resource = boto3.resource(
            "dynamodb",
            endpoint_url=self.stack.aws_endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        return resource.Table(self.config["tables"][key])


def _free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def _file_log(path: Path) -> Any:
    lock = threading.Lock()

    def write(line: str) -> None:
        with lock, path.open("a") as log:
            log.write(line + "\n")

    return write


def start_stack(state_dir: Path, **options: Any) -> LocalStack:
    api, aws, stripe = _free_ports(3)
    return LocalStack(
        api_port=api,
        aws_port=aws,
        stripe_port=stripe,
        clock_start=CLOCK_START,
        demo=False,
        state_dir=state_dir,
        log=_file_log(state_dir / "local-stack.log"),
        **options,
    ).start()


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The real stack, synthesized from infra/ when its template is stale."""
    if not (REPO_ROOT / "infra" / "app.py").exists():
        pytest.skip("infra/app.py does not exist yet: nothing to synthesize")
    stack = start_stack(tmp_path_factory.mktemp("local-stack"))
    yield stack
    try:
        assert_nothing_leaked(stack)
    finally:
        stack.stop()


def assert_nothing_leaked(stack: LocalStack) -> None:
    """No card number and no secret in what the stack's functions logged (the stack's log
    takes every worker's output), in any table item or in any email it sent."""
    known = KNOWN_SECRETS  # and the stack's own webhook secret, of Stripe's whsec_ shape
    log = stack.state_dir / "local-stack.log"
    found = leaks(f"{log.name}", log.read_text(errors="replace"), known) if log.exists() else []
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=stack.aws_endpoint,
        region_name="us-east-1",
        aws_access_key_id="leaks",
        aws_secret_access_key="leaks",
    )
    found += table_leaks(dynamodb, known)[1]
    ses = requests.get(f"{stack.aws_endpoint}/moto-api/data.json", timeout=30).json().get("ses", {})
    found += email_leaks((item.get("raw_data", "") for item in ses.get("RawMessage", [])), known)
    assert not found, "card numbers or secrets in the local stack:\n" + "\n".join(
        f"  {leak}" for leak in found
    )


@pytest.fixture(scope="module")
def local(local_stack: LocalStack) -> LocalClient:
    return LocalClient(local_stack)


@pytest.fixture(scope="module")
def fixture_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = start_stack(
        tmp_path_factory.mktemp("fixture-stack"),
        template_path=FIXTURE_TEMPLATE,
        clock_module=FIXTURE_CLOCK,
    )
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def fixture_client(fixture_stack: LocalStack) -> LocalClient:
    return LocalClient(fixture_stack)
