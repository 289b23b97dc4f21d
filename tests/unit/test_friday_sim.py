"""The model behind bench/RESULTS.md's 100,000-contractor Friday (``bench.friday_sim``):
its Stripe limiter, its pacing and its idempotency hold, so that its figures can be
trusted. Small populations, so that each test runs in a fraction of a second."""

from __future__ import annotations

import random
from dataclasses import replace

from bench.friday_sim import (
    Assumptions,
    Latency,
    RunSettings,
    StripeModel,
    peak_per_second,
    simulate,
    sliding_counts,
)

SETTINGS = RunSettings(
    batch_size=10,
    max_concurrency=20,
    timeout=120.0,
    memory_mb=512,
    visibility_timeout=720.0,
    max_receives=5,
    async_retries=2,
    stripe_interval=1.0,
    stripe_retries=3,
    stripe_first_delay=0.5,
    stripe_max_delay=4.0,
    fan_out_senders=4,
    fan_out_batch=10,
    in_flight=600.0,
)


def test_stripe_refuses_a_request_beyond_its_limit_within_a_sliding_second() -> None:
    stripe = StripeModel(Assumptions(stripe_limit=3, stripe_error_rate=0.0), random.Random(1))
    answers = [stripe.request(at, n, 1, declines=False)[0] for n, at in enumerate((0, 0.2, 0.4))]
    assert answers == ["succeeded"] * 3
    assert stripe.request(0.9, 9, 1, declines=False)[0] == "refused"
    assert stripe.request(1.0, 9, 1, declines=False)[0] == "succeeded"  # 0.0 left the window
    assert stripe.refused == 1


def test_the_peak_counts_requests_in_any_one_second_window() -> None:
    arrivals = [0.0, 0.5, 0.99, 1.2, 1.3, 1.31, 5.0]
    assert peak_per_second(arrivals) == 5  # 0.5 .. 1.31
    assert max(sliding_counts(arrivals)) == 5


def test_paced_places_never_exceed_one_request_each_per_second_however_fast_stripe_is() -> None:
    # Given Stripe answering at once, and every invoice's other work as fast
    instant = Latency(0.001, 0.1)
    assumptions = Assumptions(
        stripe_latency=instant,
        dynamodb=instant,
        s3=instant,
        ses=instant,
        eventbridge=instant,
        render_cpu=0.0,
        code_cpu=0.0,
        cold_start=0.0,
    )
    result = simulate(2_000, SETTINGS, assumptions)
    # Then 20 places send at most 20 requests in any second, and nothing is refused
    assert result.finished
    assert result.peak_stripe_per_second <= SETTINGS.max_concurrency
    assert result.refused == 0


def test_unpaced_places_are_refused_by_stripe_and_still_charge_each_account_once() -> None:
    assumptions = Assumptions(stripe_limit=10, stripe_latency=Latency(0.01, 0.1))
    result = simulate(1_000, replace(SETTINGS, stripe_interval=0.0), assumptions)
    assert result.refused > 0
    assert result.finished
    assert result.max_charged == 1 and result.max_issued == 1


def test_a_fan_out_retried_after_its_timeout_sends_duplicates_that_invoice_no_one_twice() -> None:
    # Given a fan-out too slow for the function's timeout: Lambda runs it again
    slow = replace(SETTINGS, timeout=2.0, fan_out_senders=1)
    assumptions = Assumptions(sqs_send=Latency(0.05, 0.1), cold_start=0.0)
    result = simulate(2_000, slow, assumptions)
    assert result.fan_out_runs > 1
    assert result.duplicates > 0
    # Then every account is invoiced and charged once
    assert result.max_issued == 1 and result.max_charged <= 1


def test_stripe_errors_are_retried_with_the_same_key_and_charge_once() -> None:
    assumptions = Assumptions(stripe_error_rate=0.5)
    result = simulate(500, SETTINGS, assumptions)
    assert result.errors > 0
    assert result.finished
    assert result.max_charged <= 1
