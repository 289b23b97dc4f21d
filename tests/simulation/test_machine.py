"""Issue 7, item 1: the billing state machine (``tests/simulation/machine.py``), CI-sized
and as a soak.

CI runs ``SIM_EXAMPLES`` examples of ``SIM_STEPS`` steps each from the seed ``SIM_SEED``
(see the README's "Simulation"); ``make soak`` runs batches of the same machine from
successive seeds for ``SOAK_MINUTES``. A failure names its seed and how to run it again,
and Hypothesis prints the minimal failing sequence of steps and its ``@reproduce_failure``
blob.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.simulation.machine import LEAKS, RULES, TOTALS, BillingMachine
from tests.simulation.world import Counters, Environment

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
