"""Issue 7, item 1: the billing state machine (``tests/simulation/machine.py``), CI-sized
and as a soak.

CI runs ``SIM_EXAMPLES`` examples of ``SIM_STEPS`` steps each from the seed ``SIM_SEED``
(see the README's "Simulation"); ``make soak`` runs batches of the same machine from
successive seeds for ``SOAK_MINUTES``. A failure names its seed and how to run it again,
and Hypothesis prints the minimal failing sequence of steps and its ``@reproduce_failure``
blob.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis.stateful import run_state_machine_as_test

from infra import names
from tests.simulation.machine import LEAKS, RULES, TOTALS, BillingMachine
from tests.simulation.world import Counters, Environment
from tests.support.aws_calls import SES_CONFIGURATION_SET, SES_IDENTITY, granted

EXAMPLES = int(os.environ.get("SIM_EXAMPLES", "56"))
STEPS = int(os.environ.get("SIM_STEPS", "100"))
SEED = int(os.environ.get("SIM_SEED", "20261120"))
SOAK_MINUTES = float(os.environ.get("SOAK_MINUTES", "0"))
SOAK_BATCH = int(os.environ.get("SOAK_BATCH", "10"))


def machine_settings(examples: int, steps: int) -> settings:
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        database=None,
        deadline=None,
        print_blob=True,
        derandomize=False,  # the seed is given explicitly, and printed on failure
        phases=[Phase.explicit, Phase.generate, Phase.shrink, Phase.explain],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )


def run(env: Environment, run_seed: int, examples: int, steps: int) -> None:
    """``examples`` examples of the machine from ``run_seed``; a failure says how to replay."""

    @seed(run_seed)
    class Seeded(BillingMachine):
        pass

    Seeded.env = env
    try:
        run_state_machine_as_test(Seeded, settings=machine_settings(examples, steps))
        assert not LEAKS, "stored leaks or unlogged charges:\n" + "\n".join(f"  {x}" for x in LEAKS)
    except BaseException as error:
        error.add_note(
            f"simulation seed {run_seed} ({examples} examples of {steps} steps); run it "
            f"again with: SIM_SEED={run_seed} SIM_EXAMPLES={examples} SIM_STEPS={steps} "
            ".venv/bin/python -m pytest -p no:xdist "
            "tests/simulation/test_machine.py::test_billing_machine"
        )
        raise


def summary(started: float, totals: Counters) -> str:
    rules = ", ".join(f"{name} {count}" for name, count in RULES.most_common())
    return f"simulation: {totals.line()}; {time.monotonic() - started:.0f} s (rules: {rules})"


def test_billing_machine(
    simulation: Environment, record_property: Callable[[str, object], None]
) -> None:
    """Issue 7, item 1: ``SIM_EXAMPLES`` x ``SIM_STEPS`` steps of the billing machine; the
    invariants (tests/simulation/invariants.py) after each."""
    started = time.monotonic()
    before = Counters()
    before.add(TOTALS)
    try:
        run(simulation, SEED, EXAMPLES, STEPS)
    finally:
        done = Counters()
        done.add(TOTALS)
        for name in vars(done):
            setattr(done, name, getattr(done, name) - getattr(before, name))
        record_property("simulation", summary(started, done))


@pytest.mark.skipif(SOAK_MINUTES <= 0, reason="a soak runs with SOAK_MINUTES set (make soak)")
def test_billing_machine_soak(
    simulation: Environment, record_property: Callable[[str, object], None]
) -> None:
    """The same machine for ``SOAK_MINUTES``: batches of ``SOAK_BATCH`` examples from the
    seeds after ``SIM_SEED``, until the time is up."""
    started = time.monotonic()
    deadline = started + SOAK_MINUTES * 60
    before = Counters()
    before.add(TOTALS)
    batch_seed = SEED
    try:
        while time.monotonic() < deadline:
            batch_seed += 1
            run(simulation, batch_seed, SOAK_BATCH, STEPS)
    finally:
        done = Counters()
        done.add(TOTALS)
        for name in vars(done):
            setattr(done, name, getattr(done, name) - getattr(before, name))
        record_property(
            "simulation", f"soak, seeds {SEED + 1}..{batch_seed}: " + summary(started, done)
        )


# What the platform does with a function's role on the function's behalf, which no request
# of the function's code shows: Lambda reads the stream or queue that feeds it and sends
# what it gives up on to the function's failure destination; the runtime writes the logs
# and the traces.
PLATFORM_ACTIONS = {
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
}
PLATFORM_QUEUES = {  # failure destinations and dead-letter queues, and the work queue's mapping
    names.ON_LEAD_FAILURE_QUEUE_LOGICAL_ID,
    names.WEEKLY_INVOICE_FAILURE_QUEUE_LOGICAL_ID,
    names.NOTIFY_FAILURE_QUEUE_LOGICAL_ID,
    names.INVOICE_WORK_DEAD_LETTER_QUEUE_LOGICAL_ID,
    names.BUDGET_RESET_DEAD_LETTER_QUEUE_LOGICAL_ID,
    names.GRACE_CHECK_DEAD_LETTER_QUEUE_LOGICAL_ID,
    names.RECONCILE_DEAD_LETTER_QUEUE_LOGICAL_ID,
}
WORK_QUEUE_MAPPING = {  # Lambda's event source mappings consume queues
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
}


# Grants of paths the simulation does not reach, each with the path that uses it.
NOT_REACHED = {
    (names.RECONCILE, "dynamodb:GetItem", names.TABLE_LOGICAL_IDS["ledger"]): "a payment "
    "made before midnight and recorded after it (ledger.PaymentLedger.payment_of)",
    **{
        (function, "s3:GetObject", f"{names.DOCUMENTS_BUCKET_LOGICAL_ID}/invoices/*"): "an "
        "invoice email sent again carries the PDF kept the first time "
        "(adapters.documents.InvoiceDocuments.store)"
        for function in (names.WEEKLY_INVOICE, names.CARD_UPDATED, names.RECONCILE)
    },
    (names.API, "s3:ListBucket", names.DOCUMENTS_BUCKET_LOGICAL_ID): "S3 answers a PDF not "
    "kept yet with 404 only to a reader who may list the bucket (403 otherwise)",
    (names.RECONCILE, "dynamodb:UpdateItem", names.TABLE_LOGICAL_IDS["accounts"]): "an "
    "attempt resolved as declined starts the account's grace period (invoicing.settle_attempt)",
    **{
        (names.BUDGET_RESET, action, resource): "a card that expires this month: budget_reset's "
        "notice (reset_run.ResetRun, notices.NoticeStore)"
        for action, resource in [
            ("dynamodb:GetItem", names.TABLE_LOGICAL_IDS["notices"]),
            ("dynamodb:UpdateItem", names.TABLE_LOGICAL_IDS["notices"]),
            *(
                (action, resource)
                for action in ("ses:SendEmail", "ses:SendRawEmail")
                for resource in (SES_IDENTITY, SES_CONFIGURATION_SET)
            ),
        ]
    },
    **{
        (function, "sqs:SendMessage", names.UNPUBLISHED_EVENTS_QUEUE_LOGICAL_ID): "an event "
        "the bus refused while this function was publishing (adapters.event_bus)"
        for function in names.PUBLISHERS
    },
}
# The queues Lambda consumes for a function: the invoice work queue, the unpublished events.
CONSUMED_QUEUES = {names.INVOICE_WORK_QUEUE_LOGICAL_ID, names.UNPUBLISHED_EVENTS_QUEUE_LOGICAL_ID}


def by_platform(permission: tuple[str, str]) -> bool:
    action, resource = permission
    if action in PLATFORM_ACTIONS:
        return True
    if action.startswith("sqs:") and resource in PLATFORM_QUEUES:
        return True
    if action == "sqs:GetQueueAttributes" or action == "sqs:GetQueueUrl":
        return True  # CDK's grant to send also lets the sender look the queue up
    return action in WORK_QUEUE_MAPPING and resource in CONSUMED_QUEUES


def test_every_request_of_every_function_is_granted_and_every_grant_is_used(
    simulation: Environment, record_property: Callable[[str, object], None]
) -> None:
    """Issue 7, item 5: each function's role allows every request its code made in the
    simulation (moto does not check IAM: a missing grant would fail only once deployed),
    and nothing its code never asked for, besides what the platform does on its behalf."""
    if len(simulation.calls.used) < len(names.FUNCTION_LOGICAL_IDS) - 1:  # republish aside
        run(simulation, SEED, EXAMPLES, STEPS)  # run alone: the CI-sized run fills the log
    from infra.app import build_app

    template = build_app(Path(tempfile.mkdtemp(prefix="cdk.out."))).synth()
    resources = template.get_stack_by_name(names.STACK_NAME).template["Resources"]
    missing: dict[str, list[tuple[str, str]]] = {}
    unused: dict[str, list[tuple[str, str]]] = {}
    for function, logical_id in names.FUNCTION_LOGICAL_IDS.items():
        role = resources[logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]
        allowed = granted(resources, role)
        used = simulation.calls.used.get(function, set())
        if used - allowed:
            missing[function] = sorted(used - allowed)
        if not_used := sorted(
            p for p in allowed - used if not by_platform(p) and (function, *p) not in NOT_REACHED
        ):
            unused[function] = not_used
        stale = [p for f, *p in NOT_REACHED if f == function and tuple(p) not in allowed]
        assert not stale, f"{function}: NOT_REACHED names grants the role lacks: {stale}"
    record_property(
        "simulation",
        "grants: "
        + ", ".join(
            f"{function} {len(simulation.calls.used.get(function, ()))} used"
            for function in names.FUNCTION_LOGICAL_IDS
        ),
    )
    assert not missing and not unused, (
        f"requests the role does not allow: {json.dumps(missing)}; "
        f"grants no request used: {json.dumps(unused)}"
    )
