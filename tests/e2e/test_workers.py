"""The function workers behave like Lambda execution environments: warm between
invocations, replaced after a timeout or a crash, scaled out under concurrency."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.e2e


def test_a_worker_stays_warm_between_invocations(fixture_stack):
    first = fixture_stack.invoke("ChoresFunction", {})
    second = fixture_stack.invoke("LocalFixture-ChoresFunction", {})
    assert first["pid"] == second["pid"] == first["started_pid"]
    assert first["request_id"] != second["request_id"]


def test_errors_come_back_as_lambda_reports_them(fixture_stack):
    with pytest.raises(RuntimeError) as raised:
        fixture_stack.invoke("ChoresFunction", {"action": "raise"})
    error = raised.value.args[0]
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "asked to fail"
    assert any("asked to fail" in line for line in error["stackTrace"])
    with pytest.raises(RuntimeError, match=r"Runtime\.MarshalError"):
        fixture_stack.invoke("ChoresFunction", {"action": "unserializable"})
    assert fixture_stack.invoke("ChoresFunction", {"action": "decimal"}) == {
        "whole": 12,
        "part": 1.5,
    }
    assert fixture_stack.invoke("ChoresFunction", {"action": "print"}) == {"printed": True}


def test_a_timed_out_invocation_replaces_its_worker(fixture_stack):
    before = fixture_stack.invoke("ChoresFunction", {})["pid"]
    with pytest.raises(RuntimeError, match=r"Task timed out after 1\.00 seconds"):
        fixture_stack.invoke("ChoresFunction", {"action": "sleep", "seconds": 5})
    after = fixture_stack.invoke("ChoresFunction", {})
    assert after["pid"] != before
    assert after["pid"] == after["started_pid"]  # a cold start


def test_a_crashed_worker_is_replaced(fixture_stack):
    with pytest.raises(RuntimeError, match=r"Runtime\.ExitError"):
        fixture_stack.invoke("ChoresFunction", {"action": "exit"})
    assert fixture_stack.invoke("ChoresFunction", {})["pid"] > 0


def test_concurrent_invocations_get_their_own_workers(fixture_stack):
    fixture_stack.invoke("ChoresFunction", {})
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(
            pool.map(
                lambda _: fixture_stack.invoke(
                    "ChoresFunction", {"action": "sleep", "seconds": 0.6}
                ),
                range(2),
            )
        )
    assert len({r["pid"] for r in results}) == 2
    assert time.monotonic() - started < 1.15 + 5  # the second worker's cold start included


def test_invocations_are_recorded(fixture_client):
    fixture_client.stack.invoke("ChoresFunction", {})
    last = fixture_client.invocations()[-1]
    assert last["function"] == "ChoresFunction"
    assert last["source"] == "direct"
    assert last["ok"] is True
    assert last["at"] == fixture_client.now().isoformat()
