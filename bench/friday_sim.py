"""A discrete-event model of one timezone's Friday run at scale (pure: no AWS, no Stripe).

What it models, as the code and the template do it:

- The fan-out: one invocation pages the billable index and sends the work messages in
  batches (``SendMessageBatch``) from several senders at once; a fan-out that outlives
  the function's timeout is killed, and Lambda's asynchronous retries run it again from
  the start (what it sent before is sent again: duplicates).
- The work queue's mapping: five batches at once when messages appear, 300 more a minute
  (AWS's documented SQS scaling), up to the mapping's maximum concurrency; each
  environment cold-starts once. An invocation takes its messages one after another;
  a message that fails, or every message of an invocation that times out, is received
  again after the visibility timeout, and goes to the dead-letter queue after its last
  receive.
- An invoice: its DynamoDB requests before the charge, the charge, its DynamoDB requests
  after it, the PDF and email rendered (CPU, at the function's share of a vCPU), S3, SES,
  EventBridge. Duplicate deliveries find the invoice issued and charge nothing; a delivery
  that finds an attempt under way (less than ``in_flight`` old) fails and comes back later.
- Stripe: a limit of requests per sliding second (a request beyond it answers 429),
  latency drawn from a lognormal distribution, errors (500) and card declines at given
  rates. The adapter retries a 429 or a 500 with the same idempotency key after 0.5, 1,
  2 s; an outcome still unknown fails the message (it is resolved on redelivery: Stripe is
  asked for the attempt, then charged with the same key). Each environment paces its
  requests (``payments.RequestPacer``): a request holds its turn for the interval.

Invariants checked on every run: the Stripe requests in any one-second window, no invoice
issued twice for an account, no account charged twice.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field

# What a model process yields: the simulated time at which to resume it.
Process = Generator[float, None, None]
# Requests a second apart never share a one-second window, floating point notwithstanding.
_EPSILON = 1e-9


@dataclass(frozen=True)
class Latency:
    """A lognormal latency: its median (seconds) and the sigma of its logarithm."""

    median: float
    sigma: float = 0.4

    def sample(self, rng: random.Random) -> float:
        return rng.lognormvariate(math.log(self.median), self.sigma)

    def p95(self) -> float:
        return self.median * math.exp(1.645 * self.sigma)


@dataclass(frozen=True)
class RunSettings:
    """The settings of the run, read from the synthesized template and the code."""

    batch_size: int  # the work queue mapping's BatchSize
    max_concurrency: int  # its ScalingConfig.MaximumConcurrency
    timeout: float  # the function's Timeout, seconds
    memory_mb: int  # the function's MemorySize
    visibility_timeout: float  # the work queue's VisibilityTimeout
    max_receives: int  # its redrive policy's maxReceiveCount
    async_retries: int  # the function's EventInvokeConfig MaximumRetryAttempts (fan-out)
    stripe_interval: float  # STRIPE_REQUEST_INTERVAL_SECONDS: each request's turn
    stripe_retries: int  # payments.DEFAULT_RETRIES
    stripe_first_delay: float  # payments.FIRST_DELAY
    stripe_max_delay: float  # payments.MAX_DELAY
    fan_out_senders: int  # billing_run.FAN_OUT_SENDERS
    fan_out_batch: int  # billing_run.MAX_MESSAGES
    in_flight: float  # collection.IN_FLIGHT, seconds


@dataclass(frozen=True)
class Assumptions:
    """What the model assumes of the services, stated in bench/RESULTS.md."""

    stripe_limit: int = 100  # requests per sliding second, live mode
    stripe_latency: Latency = Latency(0.6, 0.45)  # an off-session PaymentIntent, confirmed
    stripe_refused: Latency = Latency(0.08, 0.3)  # a 429 answers at once
    stripe_error_rate: float = 0.01  # 500s, independently per request
    decline_rate: float = 0.05  # cards declined, per account
    dynamodb: Latency = Latency(0.006, 0.35)
    dynamodb_before_charge: int = 9  # requests, per invoice (bench section 3)
    dynamodb_after_charge: int = 3
    s3: Latency = Latency(0.03, 0.35)
    ses: Latency = Latency(0.06, 0.35)
    eventbridge: Latency = Latency(0.02, 0.35)
    sqs_send: Latency = Latency(0.015, 0.35)  # SendMessageBatch
    sqs_receive: Latency = Latency(0.02, 0.35)
    index_page: Latency = Latency(0.05, 0.3)  # a Query page of the billable index
    index_page_items: int = 10_000  # keys-only items in a 1 MB page, about
    render_cpu: float = 0.05  # seconds of one vCPU to render an invoice's PDF and email
    code_cpu: float = 0.02  # seconds of one vCPU for the rest of an invoice's code
    cold_start: float = 1.5  # a new environment's init and first imports, seconds
    scale_start: int = 5  # concurrent batches when messages appear
    scale_per_minute: int = 300  # more batches a minute
    async_retry_delays: tuple[float, ...] = (60.0, 120.0)  # Lambda's, before each retry


@dataclass
class Account:
    issued: int = 0  # invoices issued (must stay at most 1)
    charged: int = 0  # successful charges (must stay at most 1)
    attempt: int = 0  # the attempt number last started
    attempt_started: float | None = None  # while an attempt's outcome is unknown
    done: bool = False  # collected (paid or past due) and emailed
    declined: bool = False


@dataclass
class Result:
    contractors: int
    finished: bool
    minutes: float  # from the schedule to the last invoice collected and emailed
    fan_out_seconds: float
    fan_out_runs: int  # 1 + the asynchronous retries it took
    peak_stripe_per_second: int  # most requests in any one-second window
    stripe_requests: int
    refused: int  # 429s
    errors: int  # 500s
    unknown_outcomes: int  # attempts whose outcome stayed unknown (message failed)
    declined: int
    duplicates: int  # deliveries of a message already done
    dead_letters: int
    max_issued: int  # invoices issued to one account, at most
    max_charged: int  # successful charges of one account, at most
    max_concurrency: int  # environments at once, at most
    cold_starts: int
    done: int


class StripeModel:
    """Stripe's side: a limit over any sliding second, latency, errors, declines, and one
    PaymentIntent per idempotency key."""

    def __init__(self, assumptions: Assumptions, rng: random.Random) -> None:
        self._assumptions = assumptions
        self._rng = rng
        self._window: deque[float] = deque()
        self.arrivals: list[float] = []
        self.refused = 0
        self.errors = 0
        self._keys: dict[tuple[int, int], bool] = {}

    def request(self, now: float, account: int, attempt: int, declines: bool) -> tuple[str, float]:
        """A charge arriving at ``now``: its answer ("succeeded", "declined", "error",
        "refused") and how long it takes."""
        self.arrivals.append(now)
        window = self._window
        while window and window[0] <= now - 1.0 + _EPSILON:
            window.popleft()
        if len(window) >= self._assumptions.stripe_limit:
            self.refused += 1
            return "refused", self._assumptions.stripe_refused.sample(self._rng)
        window.append(now)
        latency = self._assumptions.stripe_latency.sample(self._rng)
        if self._rng.random() < self._assumptions.stripe_error_rate:
            self.errors += 1
            return "error", latency
        key = (account, attempt)
        if key not in self._keys:  # a repeated key replays the first answer
            self._keys[key] = not declines
        return ("succeeded" if self._keys[key] else "declined"), latency

    def lookup(self, now: float, account: int, attempt: int) -> tuple[bool | None, float]:
        """``find_attempt``: the outcome Stripe holds for the key (None: no charge)."""
        self.arrivals.append(now)
        self._window.append(now)
        return self._keys.get((account, attempt)), self._assumptions.stripe_latency.sample(
            self._rng
        )


def peak_per_second(arrivals: list[float]) -> int:
    """The most requests that arrived within any one second (a sliding window)."""
    ordered = sorted(arrivals)
    peak, start = 0, 0
    for end, moment in enumerate(ordered):
        while ordered[start] <= moment - 1.0 + _EPSILON:
            start += 1
        peak = max(peak, end - start + 1)
    return peak


class Pacer:
    """``pacing.RequestPacer`` in simulated time: one environment's turns."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.free_at = -math.inf

    def wait(self, now: float) -> float:
        """When a request may start."""
        return max(now, self.free_at)

    def start(self, now: float) -> None:
        self.free_at = now + self.interval

    def rest(self, now: float) -> float:
        """When the invocation may return: its last request's interval has passed."""
        return max(now, self.free_at)


@dataclass(order=True)
class _Message:
    visible_at: float
    sequence: int
    account: int = field(compare=False)
    receives: int = field(default=0, compare=False)


class FridaySimulation:
    def __init__(
        self,
        contractors: int,
        settings: RunSettings,
        assumptions: Assumptions | None = None,
        seed: int = 8,
        horizon: float = 12 * 3600.0,
    ) -> None:
        self.settings = settings
        self.assumptions = assumptions or Assumptions()
        self.rng = random.Random(seed)
        self.contractors = contractors
        self.horizon = horizon
        self.accounts = [Account() for _ in range(contractors)]
        for account in self.accounts:
            account.declined = self.rng.random() < self.assumptions.decline_rate
        self.stripe = StripeModel(self.assumptions, self.rng)
        self.now = 0.0
        self._events: list[tuple[float, int, Process]] = []
        self._sequence = 0
        self._queue: list[_Message] = []
        self._fan_out_done = False
        self.fan_out_seconds = 0.0
        self.fan_out_runs = 0
        self.duplicates = 0
        self.dead_letters = 0
        self.unknown = 0
        self.cold_starts = 0
        self.busy = 0
        self.max_busy = 0
        self.done = 0
        self.finished_at = 0.0
        self._polling = False
        self._cpu_share = min(1.0, settings.memory_mb / 1769)

    # ------------------------------------------------------------------ the loop

    def _start(self, process: Process) -> None:
        self._schedule(self.now, process)

    def _schedule(self, at: float, process: Process) -> None:
        self._sequence += 1
        heapq.heappush(self._events, (at, self._sequence, process))

    def run(self) -> Result:
        self._start(self._fan_out())
        while self._events:
            at, _, process = heapq.heappop(self._events)
            if at > self.horizon:
                break
            self.now = at
            try:
                resume = next(process)
            except StopIteration:
                continue
            self._schedule(max(resume, at), process)
        return self._result()

    def _result(self) -> Result:
        return Result(
            contractors=self.contractors,
            finished=self.done == self.contractors,
            minutes=self.finished_at / 60,
            fan_out_seconds=self.fan_out_seconds,
            fan_out_runs=self.fan_out_runs,
            peak_stripe_per_second=peak_per_second(self.stripe.arrivals),
            stripe_requests=len(self.stripe.arrivals),
            refused=self.stripe.refused,
            errors=self.stripe.errors,
            unknown_outcomes=self.unknown,
            declined=sum(1 for a in self.accounts if a.done and a.declined),
            duplicates=self.duplicates,
            dead_letters=self.dead_letters,
            max_issued=max((a.issued for a in self.accounts), default=0),
            max_charged=max((a.charged for a in self.accounts), default=0),
            max_concurrency=self.max_busy,
            cold_starts=self.cold_starts,
            done=self.done,
        )

    # ------------------------------------------------------------------ the fan-out

    def _fan_out(self) -> Process:
        """The schedule's invocation, and Lambda's retries of it when it times out."""
        settings, assumptions = self.settings, self.assumptions
        delays = (0.0, *assumptions.async_retry_delays[: settings.async_retries])
        for run, delay in enumerate(delays):
            yield self.now + delay + (assumptions.cold_start if run == 0 else 0.0)
            self.fan_out_runs = run + 1
            started = self.now
            deadline = started + settings.timeout
            senders = [started] * settings.fan_out_senders  # when each sender is free
            clock = started
            sent_all = True
            for first in range(0, self.contractors, assumptions.index_page_items):
                clock += assumptions.index_page.sample(self.rng)
                last = min(first + assumptions.index_page_items, self.contractors)
                for batch in range(first, last, settings.fan_out_batch):
                    free = heapq.heappop(senders)
                    finished = max(free, clock) + assumptions.sqs_send.sample(self.rng)
                    heapq.heappush(senders, finished)
                    if finished > deadline:
                        sent_all = False
                        continue
                    for account in range(batch, min(batch + settings.fan_out_batch, last)):
                        self._enqueue(account, finished)
            ended = min(max(senders), deadline)
            yield ended
            self.fan_out_seconds = ended - started
            if sent_all:
                break
        self._fan_out_done = True

    def _enqueue(self, account: int, visible_at: float) -> None:
        self._sequence += 1
        heapq.heappush(self._queue, _Message(visible_at, self._sequence, account))
        if not self._polling:
            self._polling = True
            self._start_pollers(visible_at)

    # ------------------------------------------------------------------ the consumers

    def _start_pollers(self, first: float) -> None:
        settings, assumptions = self.settings, self.assumptions
        every = 60.0 / assumptions.scale_per_minute
        for slot in range(settings.max_concurrency):
            active = first + max(0, slot - assumptions.scale_start + 1) * every
            self._schedule(active, self._environment(active))

    def _receive(self) -> list[_Message]:
        received: list[_Message] = []
        while (
            self._queue
            and self._queue[0].visible_at <= self.now
            and len(received) < self.settings.batch_size
        ):
            message = heapq.heappop(self._queue)
            message.receives += 1
            received.append(message)
        return received

    def _finished(self) -> bool:
        return self._fan_out_done and self.done + self.dead_letters >= self.contractors

    def _environment(self, active: float) -> Process:
        """One of the mapping's concurrent slots: polls, invokes, repeats."""
        settings, assumptions = self.settings, self.assumptions
        pacer = Pacer(settings.stripe_interval)
        cold = True
        yield active
        while not self._finished():
            yield self.now + assumptions.sqs_receive.sample(self.rng)
            batch = self._receive()
            if not batch:
                upcoming = self._queue[0].visible_at if self._queue else self.now + 1.0
                yield max(self.now + 0.5, min(upcoming, self.now + 20.0))  # long polling
                continue
            self.busy += 1
            self.max_busy = max(self.max_busy, self.busy)
            if cold:
                self.cold_starts += 1
                cold = False
                yield self.now + assumptions.cold_start
            started = self.now
            failed: list[_Message] = []
            for message in batch:
                if self.now - started >= settings.timeout:
                    # Killed at its timeout: Lambda counts the invocation failed, and every
                    # message of the batch comes back (what was done stays done).
                    failed = batch
                    break
                ok = yield from self._invoice(message.account, pacer)
                if not ok:
                    failed.append(message)
            yield pacer.rest(self.now)
            self.busy -= 1
            for message in failed:
                if message.receives >= settings.max_receives:
                    self.dead_letters += 1
                else:
                    self._sequence += 1
                    visible = started + settings.visibility_timeout
                    heapq.heappush(
                        self._queue,
                        _Message(visible, self._sequence, message.account, message.receives),
                    )

    def _dynamodb(self, requests: int) -> float:
        return sum(self.assumptions.dynamodb.sample(self.rng) for _ in range(requests))

    def _invoice(self, number: int, pacer: Pacer) -> Generator[float, None, bool]:
        """One work message: True when it succeeds (the message is deleted)."""
        account, assumptions, settings = self.accounts[number], self.assumptions, self.settings
        if account.done:
            self.duplicates += 1
            yield self.now + self._dynamodb(3) + assumptions.eventbridge.sample(self.rng)
            return True
        yield self.now + self._dynamodb(assumptions.dynamodb_before_charge)
        if account.issued == 0:
            account.issued = 1
        resuming = False
        if account.attempt_started is not None:
            if self.now - account.attempt_started < settings.in_flight:
                return False  # under way elsewhere: left alone, the message comes back
            resuming = True
        else:
            account.attempt += 1
            account.attempt_started = self.now
        outcome = yield from self._charge(number, account, pacer, resuming)
        if outcome is None:
            self.unknown += 1
            return False
        account.attempt_started = None
        after = assumptions.dynamodb_after_charge + (1 if outcome == "declined" else 0)
        work = (
            self._dynamodb(after)
            + (assumptions.render_cpu + assumptions.code_cpu) / self._cpu_share
            + assumptions.s3.sample(self.rng)
            + assumptions.ses.sample(self.rng)
            + assumptions.eventbridge.sample(self.rng)
        )
        yield self.now + work
        account.done = True
        self.done += 1
        self.finished_at = max(self.finished_at, self.now)
        return True

    def _charge(
        self, number: int, account: Account, pacer: Pacer, resuming: bool
    ) -> Generator[float, None, str | None]:
        """The adapter's charge: paced tries with the same key; the outcome, or None when
        it stays unknown."""
        settings = self.settings
        if resuming:  # find_attempt first, on a redelivery of an unknown outcome
            yield pacer.wait(self.now)
            pacer.start(self.now)
            found, latency = self.stripe.lookup(self.now, number, account.attempt)
            yield self.now + latency
            if found is not None:
                return self._settled(account, found)
        for retry in range(settings.stripe_retries + 1):
            yield pacer.wait(self.now)
            pacer.start(self.now)
            answer, latency = self.stripe.request(
                self.now, number, account.attempt, account.declined
            )
            yield self.now + latency
            if answer in ("succeeded", "declined"):
                return self._settled(account, answer == "succeeded")
            if retry < settings.stripe_retries:
                delay = min(settings.stripe_first_delay * 2**retry, settings.stripe_max_delay)
                yield self.now + delay
        return None

    @staticmethod
    def _settled(account: Account, succeeded: bool) -> str:
        if succeeded:
            account.charged += 1
            return "succeeded"
        return "declined"


def simulate(
    contractors: int,
    settings: RunSettings,
    assumptions: Assumptions | None = None,
    seed: int = 8,
) -> Result:
    return FridaySimulation(contractors, settings, assumptions, seed).run()


def sliding_counts(arrivals: list[float]) -> Iterator[int]:
    """The requests in the one-second window ending at each arrival (for the tests)."""
    ordered = sorted(arrivals)
    start = 0
    for end, moment in enumerate(ordered):
        while ordered[start] <= moment - 1.0 + _EPSILON:
            start += 1
        yield end - start + 1


__all__ = [
    "Assumptions",
    "FridaySimulation",
    "Latency",
    "Pacer",
    "Result",
    "RunSettings",
    "StripeModel",
    "peak_per_second",
    "simulate",
    "sliding_counts",
]
