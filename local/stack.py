"""The whole system on one machine, without Docker: ``LocalStack``.

It starts the AWS emulator (moto's server) and the Stripe emulator (localstripe), creates
the template's tables, queues, buses and secrets, runs every function in warm worker
processes, pumps the DynamoDB streams and the SQS queues of the event source mappings into
their functions, fires the schedules from a simulated clock, and serves the API and the
``/_local`` endpoints on a local gateway::

    with LocalStack(api_port=3100, aws_port=5101, stripe_port=8520) as stack:
        requests.get(f"{stack.api_url}/_local/config")
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3

from local.auth import TokenIssuer
from local.clock import SimulatedClock
from local.emails import Mailbox
from local.events import EventRouter
from local.gateway import Gateway
from local.payments import (
    WEBHOOK_ID,
    WEBHOOK_PATH,
    new_webhook_secret,
    register_webhook,
    stripe_secret_logical_id,
    stripe_secret_value,
)
from local.polling import Poller
from local.processes import Emulator, port_is_free, start_moto, start_stripe
from local.provision import Provisioned, Provisioner, table_models
from local.queues import QueuePump
from local.runtime import CLOCK_MODULE, Log, Runtime
from local.scheduler import Scheduler
from local.specs import RouteSpec, ScheduleSpec, SpecReader
from local.streams import StreamPump
from local.template import (
    DEFAULT_STACK,
    REGION,
    Resolver,
    Template,
    ensure_synthesized,
    friendly_name,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


def _stderr_log() -> Log:
    lock = threading.Lock()

    def write(line: str) -> None:
        with lock:
            print(line, file=sys.stderr, flush=True)

    return write


class LocalStack:
    def __init__(
        self,
        *,
        api_port: int = 3000,
        aws_port: int = 5001,
        stripe_port: int = 8420,
        root: Path = REPO_ROOT,
        template_path: Path | None = None,
        stack_name: str = DEFAULT_STACK,
        clock_start: datetime | None = None,
        demo: bool = False,
        state_dir: Path | None = None,
        log: Log | None = None,
        clock_module: str = CLOCK_MODULE,
        max_workers: int = 4,
        settle_timeout: float = 60.0,
        host: str = "127.0.0.1",
        access_log: bool = False,
        email_identities: Sequence[str] = (),
    ) -> None:
        self.api_port = api_port
        self.aws_port = aws_port
        self.stripe_port = stripe_port
        self.root = root
        self.template_path = template_path
        self.stack_name = stack_name
        self.clock_start = clock_start
        self.demo = demo
        self.state_dir = state_dir or root / ".local"
        self.log: Log = log or _stderr_log()
        self.clock_module = clock_module
        self.max_workers = max_workers
        self.settle_timeout = settle_timeout
        self.host = host
        self.access_log = access_log
        self.email_identities = tuple(email_identities)
        self.notes: list[str] = []
        self.demo_result: str | None = None
        self._clock_lock = threading.Lock()
        self._moto: Emulator | None = None
        self._stripe: Emulator | None = None
        self._runtime: Runtime | None = None
        self._pumps: list[StreamPump] = []
        self._queue_pumps: list[QueuePump] = []
        self._schedules: list[ScheduleSpec] = []
        self._stripe_webhook: dict[str, str] | None = None
        self._router: EventRouter | None = None
        self._gateway: Gateway | None = None
        self._mailbox: Mailbox | None = None
        self._clock: SimulatedClock | None = None
        self._scheduler: Scheduler | None = None
        self._tokens: TokenIssuer | None = None
        self._provisioned = Provisioned()
        self._routes: list[RouteSpec] = []
        self.table_names: dict[str, str] = {}
        self.template: Template | None = None
        self._state_path: Path | None = None

    # ------------------------------------------------------------------ addresses

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def stripe_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.stripe_port}"

    @property
    def emails_directory(self) -> Path:
        """Where the emails sent are written for a person to read, one folder per email
        (``local/emails.py``)."""
        return self.state_dir / "emails"

    def client(self, service: str) -> Any:
        """A boto3 client for the local AWS endpoint."""
        return boto3.client(
            service,
            endpoint_url=self.aws_endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - the emulator takes any key
        )

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("the local stack is not started")
        return self._runtime

    @property
    def clock(self) -> SimulatedClock:
        if self._clock is None:
            raise RuntimeError("the local stack is not started")
        return self._clock

    @property
    def tokens(self) -> TokenIssuer:
        if self._tokens is None:
            raise RuntimeError("the local stack is not started")
        return self._tokens

    # ------------------------------------------------------------------ life cycle

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        for name, port in (
            ("API", self.api_port),
            ("AWS", self.aws_port),
            ("Stripe", self.stripe_port),
        ):
            if not port_is_free(self.host, port):
                variable = f"LOCAL_{name.upper()}_PORT"
                raise RuntimeError(f"port {port} for the {name} endpoint is in use; set {variable}")
        template_path = self.template_path or ensure_synthesized(self.root, self.stack_name)
        self.template = template = Template.load(template_path)
        logs = self.state_dir / "logs"
        self._moto = start_moto(
            self.host, self.aws_port, logs / f"moto-{self.aws_port}.log", self.root
        )
        self._stripe = start_stripe(
            self.stripe_port, logs / f"stripe-{self.stripe_port}.log", self.root
        )
        self._moto.wait_ready("/moto-api/")
        self._stripe.wait_ready("/v1/customers")

        resolver = Resolver(template)
        secret_values: dict[str, str] = {}
        webhook_secret = new_webhook_secret()
        stripe_secret = stripe_secret_logical_id()
        if template.resources.get(stripe_secret, {}).get("Type") == "AWS::SecretsManager::Secret":
            secret_values[stripe_secret] = stripe_secret_value(self.stripe_endpoint, webhook_secret)
        self._provisioned = Provisioner(
            template,
            resolver,
            self.aws_endpoint,
            self.email_identities,
            secret_values=secret_values,
        ).create_all()
        self.notes.extend(self._provisioned.notes)
        if secret_values:
            # Registered before the gateway serves; the route itself is the API's.
            webhook_url = f"{self.api_url}{WEBHOOK_PATH}"
            register_webhook(self.stripe_endpoint, webhook_url, webhook_secret)
            self._stripe_webhook = {"id": WEBHOOK_ID, "url": webhook_url}
        reader = SpecReader(template, resolver, self.root)
        functions = reader.functions()
        mappings = reader.stream_mappings(self._provisioned.stream_tables)
        queue_mappings = reader.queue_mappings()
        self._schedules = schedules = reader.schedules()
        rules = reader.event_rules(self._provisioned.bus_names)
        self._routes = reader.routes()
        self.notes.extend(reader.notes)
        self.table_names = table_models(template, resolver, self._provisioned.tables)

        start = self.clock_start or datetime.now(UTC).replace(microsecond=0)
        self._clock = SimulatedClock(start)
        self._runtime = Runtime(
            functions,
            self.aws_endpoint,
            self.root,
            self._clock,
            self.log,
            clock_module=self.clock_module,
            max_workers=self.max_workers,
        )
        for logical_id, ready in self._runtime.start().items():
            if ready.get("init_error"):
                error = ready["init_error"]
                self.notes.append(
                    f"function {logical_id} failed to initialize: "
                    f"{error['errorType']}: {error['errorMessage']}"
                )
        arns = {spec.logical_id: spec.arn for spec in functions}
        self._pumps = [
            StreamPump(
                mapping, arns[mapping.function], self._runtime, self._clock, self.client, self.log
            )
            for mapping in mappings
        ]
        self._queue_pumps = [
            QueuePump(
                mapping,
                self._runtime,
                self._clock,
                self.client,
                self.log,
                default_concurrency=self.max_workers,
            )
            for mapping in queue_mappings
        ]
        buses = ["default", *self._provisioned.buses.values()]
        self._router = EventRouter(
            template.stack_name, buses, rules, self._runtime, self.client, self.log
        )
        self._router.setup()
        self._router.start()
        for pump in [*self._pumps, *self._queue_pumps]:
            pump.start()
        self._scheduler = Scheduler(schedules, start)
        self._mailbox = Mailbox(self.aws_endpoint, self.emails_directory, self._clock.now)
        self._tokens = TokenIssuer(issuer=f"{self.api_url}/_local")
        scopes = sorted({scope for route in self._routes for scope in route.scopes})
        binary_types: list[str] = []
        for _, resource in template.of_type("AWS::ApiGateway::RestApi"):
            binary_types += [
                t.replace("~1", "/")
                for t in (resource.get("Properties") or {}).get("BinaryMediaTypes") or []
            ]
        self._gateway = Gateway(
            self._routes, self._runtime, self._tokens, self, binary_types, scopes
        )
        self._gateway.serve(self.host, self.api_port, access_log=self.access_log)
        self._write_state()
        if self.demo:
            from local.demo import create_demo_account

            self.demo_result = create_demo_account(self)

    def stop(self) -> None:
        if self._gateway is not None:
            self._gateway.shutdown()
            self._gateway = None
        for pump in [*self._pumps, *self._queue_pumps]:
            pump.stop()
        self._pumps = []
        self._queue_pumps = []
        if self._router is not None:
            self._router.stop()
            self._router = None
        if self._runtime is not None:
            self._runtime.stop()
        for emulator in (self._stripe, self._moto):
            if emulator is not None:
                emulator.stop()
        self._stripe = self._moto = None
        if self._state_path is not None:
            self._state_path.unlink(missing_ok=True)
            self._state_path = None

    def _write_state(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "pid": os.getpid(),
            "api_endpoint": self.api_url,
            "aws_endpoint": self.aws_endpoint,
            "stripe_endpoint": self.stripe_endpoint,
            "emulator_pids": {
                "moto": self._moto.pid if self._moto else None,
                "localstripe": self._stripe.pid if self._stripe else None,
            },
            "worker_pids": self.runtime.pids(),
        }
        self._state_path = self.state_dir / f"state-{self.api_port}.json"
        self._state_path.write_text(json.dumps(state, indent=2))

    # ------------------------------------------------------------------ the clock

    def now(self) -> datetime:
        return self.clock.now()

    def advance_to(self, instant: datetime) -> datetime:
        """Move the clock to ``instant``, firing each schedule occurrence on the way at its
        own instant and letting the streams settle after each; then settle again."""
        assert self._scheduler is not None
        with self._clock_lock:
            start = self.clock.now()
            if instant < start:
                raise ValueError(
                    f"the clock only moves forward: {instant.isoformat()} is before "
                    f"{start.isoformat()}"
                )
            # What was written before the move is processed at the instant it was written.
            self.settle()
            self._refresh_mail()
            for occurrence in self._scheduler.due(start, instant):
                self.clock.set(occurrence.at)
                self.runtime.invoke(
                    occurrence.schedule.function, Scheduler.event(occurrence), source="schedule"
                )
                self.settle()
                self._refresh_mail()
            self.clock.set(instant)
            self.settle()
            self._refresh_mail()
            return self.clock.now()

    def advance(self, seconds: float) -> datetime:
        return self.advance_to(self.now() + timedelta(seconds=seconds))

    def settle(self, timeout: float | None = None) -> None:
        """Wait until every shard and every queue of a mapping is drained, every
        published event routed and no invocation is in flight; raise ``TimeoutError``
        after ``timeout`` seconds."""
        deadline = time.monotonic() + (timeout or self.settle_timeout)

        def remaining() -> float:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"the local stack did not settle within {timeout or self.settle_timeout} s"
                )
            return left

        workers: list[Poller] = [*self._pumps, *self._queue_pumps]
        if self._router is not None:
            workers.append(self._router)
        while True:
            while self.runtime.in_flight:
                remaining()
                time.sleep(0.01)
            before = self.runtime.activity
            marks = [(worker, worker.mark()) for worker in workers]
            for worker, _ in marks:
                worker.poke()
            for worker, number in marks:
                if not worker.wait_cycle(number, remaining()):
                    remaining()
            if self.runtime.activity == before and self.runtime.in_flight == 0:
                return

    def _refresh_mail(self) -> None:
        if self._mailbox is not None:
            try:
                self._mailbox.refresh()
            except Exception as exc:
                self.log(f"emails: could not read sent mail: {exc!r}")

    # ------------------------------------------------------------------ observations

    def config(self) -> dict[str, Any]:
        assert self.template is not None
        resources = self.template.resources
        queues = {
            friendly_name(lid, resources[lid]): url for lid, url in self._provisioned.queues.items()
        }
        buses = {
            friendly_name(lid, resources[lid]): name
            for lid, name in self._provisioned.buses.items()
        }
        functions = {
            friendly_name(spec.logical_id, resources[spec.logical_id]): spec.name
            for spec in self.runtime.specs.values()
        }
        functions_by_id = {spec.logical_id: spec.name for spec in self.runtime.specs.values()}
        return {
            "api_endpoint": self.api_url,
            "aws_endpoint": self.aws_endpoint,
            "stripe_endpoint": self.stripe_endpoint,
            "region": REGION,
            "stack_name": self.template.stack_name,
            "template": str(self.template.path),
            "now": self.now().isoformat(),
            "tables": dict(self.table_names),
            "event_bus": next(iter(buses.values()), "default"),
            "event_buses": buses,
            "queues": queues,
            # The local stack's own queues that record what each bus publishes.
            "event_queues": dict(self._router.queues) if self._router is not None else {},
            "buckets": {
                friendly_name(lid, resources[lid]): name
                for lid, name in self._provisioned.buckets.items()
            },
            "functions": functions,
            "secrets": {
                friendly_name(lid, resources[lid]): arn
                for lid, arn in self._provisioned.secrets.items()
            },
            "stripe_webhook": self._stripe_webhook,
            "email_identities": list(self._provisioned.email_identities),
            "emails_directory": str(self.emails_directory),
            "stream_mappings": [
                {
                    "name": friendly_name(pump.spec.logical_id, resources[pump.spec.logical_id]),
                    "table": self._provisioned.tables[pump.spec.table],
                    "function": functions_by_id[pump.spec.function],
                    "batch_size": pump.spec.batch_size,
                    "filters": [dict(pattern.pattern) for pattern in pump.spec.filters],
                    "on_failure": pump.spec.on_failure_arn,
                }
                for pump in self._pumps
            ],
            "queue_mappings": [
                {
                    "name": friendly_name(pump.spec.logical_id, resources[pump.spec.logical_id]),
                    "queue": pump.spec.queue_url,
                    "function": functions_by_id[pump.spec.function],
                    "batch_size": pump.spec.batch_size,
                    "concurrency": pump.concurrency,
                }
                for pump in self._queue_pumps
            ],
            "schedules": [
                {
                    "name": friendly_name(spec.logical_id, resources[spec.logical_id]),
                    "expression": spec.expression.text,
                    "timezone": spec.timezone,
                    "function": functions_by_id[spec.function],
                    "input": spec.input,
                }
                for spec in self._schedules
            ],
            "routes": [
                {"method": r.method, "path": r.resource_path, "authorization": r.authorization}
                for r in self._routes
            ],
        }

    def emails(self) -> list[dict[str, Any]]:
        assert self._mailbox is not None
        return self._mailbox.refresh()

    def events(self) -> list[dict[str, Any]]:
        """Every event published so far, including those published a moment ago."""
        if self._router is None:
            return []
        cycle = self._router.mark()
        self._router.poke()
        self._router.wait_cycle(cycle, timeout=10)
        return self._router.events()

    def invocations(self) -> list[dict[str, Any]]:
        return [invocation.summary() for invocation in self.runtime.history]

    def failed_stream_batches(self) -> list[dict[str, Any]]:
        return [batch for pump in self._pumps for batch in pump.failed_batches]

    def invoke(self, function: str, event: Any) -> Any:
        """Invoke a function directly (by logical id, name or ARN); its result, or
        ``RuntimeError`` with the function's error."""
        logical_id = self.runtime.function_by_name(function)
        if logical_id is None:
            raise KeyError(f"no local function {function!r}")
        invocation = self.runtime.invoke(logical_id, event)
        if not invocation.ok:
            raise RuntimeError(invocation.error)
        return invocation.result

    def token(self, *, contractor_id: str | None = None, role: str | None = None) -> str:
        scopes = sorted({scope for route in self._routes for scope in route.scopes})
        return self.tokens.issue(
            contractor_id=contractor_id,
            role=role,
            scope=(scopes or None) if contractor_id is not None else None,
        )
