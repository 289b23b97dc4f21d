"""Warm Lambda workers: each function runs in long-lived subprocesses (``local.worker``)
with the environment the template gives it, and is invoked one event at a time per
worker, as a Lambda execution environment is.

A function gets a second worker (up to ``max_workers``) only when every one it has is
busy, the way Lambda scales out under concurrent invocations.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from local.clock import SimulatedClock
from local.specs import FunctionSpec
from local.template import REGION

Log = Callable[[str], None]

CLOCK_MODULE = "functions.adapters.clock"
READY_TIMEOUT_S = 120.0


def function_environment(
    spec: FunctionSpec, aws_endpoint: str, root: Path, region: str = REGION
) -> dict[str, str]:
    """What the function's process sees: the Lambda runtime's variables, the template's
    variables, and the local AWS endpoint with dummy credentials. Nothing else."""
    base = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "PYTHONPATH": str(root),
        "PYTHONUNBUFFERED": "1",
        "LAMBDA_TASK_ROOT": str(root),
        "_HANDLER": spec.handler,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{uuid.uuid4().hex}",
    }
    forced = {
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_ENDPOINT_URL": aws_endpoint,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    return {**base, **spec.environment, **forced}


@dataclass(frozen=True)
class Invocation:
    function: str  # logical id
    request_id: str
    source: str  # "api", "stream", "sqs", "schedule", "event", "direct"
    at: datetime  # the simulated instant the function saw
    ok: bool
    result: Any
    error: Mapping[str, Any] | None
    duration_ms: int
    event: Any = None  # what the function was invoked with

    def summary(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "request_id": self.request_id,
            "source": self.source,
            "at": self.at.isoformat(),
            "ok": self.ok,
            "error": dict(self.error) if self.error else None,
            "duration_ms": self.duration_ms,
            "event": self.event,
        }


class WorkerGone(Exception):
    pass


class _WorkerProcess:
    def __init__(
        self,
        spec: FunctionSpec,
        env: Mapping[str, str],
        root: Path,
        clock_module: str,
        log: Log,
        label: str,
    ) -> None:
        self.spec = spec
        self.label = label
        self._log = log
        self._answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "local.worker", spec.handler, clock_module],
            cwd=root,
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # Ctrl-C reaches the local stack, which stops workers
        )
        assert self._process.stdout is not None and self._process.stderr is not None
        threading.Thread(
            target=self._read_answers,
            args=(self._process.stdout,),
            daemon=True,
            name=f"{label}-out",
        ).start()
        threading.Thread(
            target=self._forward_logs,
            args=(self._process.stderr,),
            daemon=True,
            name=f"{label}-err",
        ).start()
        self.ready: dict[str, Any] | None = None

    @property
    def pid(self) -> int:
        return self._process.pid

    def alive(self) -> bool:
        return self._process.poll() is None

    def _read_answers(self, stream: IO[bytes]) -> None:
        for line in stream:
            try:
                self._answers.put(json.loads(line))
            except json.JSONDecodeError:
                self._log(f"{self.label} | (unreadable answer) {line!r}")
        self._answers.put(None)

    def _forward_logs(self, stream: IO[bytes]) -> None:
        for line in stream:
            self._log(f"{self.label} | {line.decode(errors='replace').rstrip()}")

    def wait_ready(self, timeout: float) -> dict[str, Any]:
        if self.ready is None:
            try:
                answer = self._answers.get(timeout=timeout)
            except queue.Empty:
                self.kill()
                raise WorkerGone(f"{self.label} did not start within {timeout:.0f} s") from None
            if answer is None:
                raise WorkerGone(f"{self.label} exited during start (code {self._process.wait()})")
            self.ready = answer
            if answer.get("init_error"):
                error = answer["init_error"]
                self._log(
                    f"{self.label} | INIT ERROR {error['errorType']}: {error['errorMessage']}"
                )
        return self.ready

    def call(self, message: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        self.wait_ready(READY_TIMEOUT_S)
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(json.dumps(message).encode() + b"\n")
            self._process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise WorkerGone(f"{self.label} is gone ({exc})") from exc
        try:
            answer = self._answers.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise TimeoutError from None
        if answer is None:
            code = self._process.wait()
            raise WorkerGone(f"Runtime exited with error: exit status {code}")
        return answer

    def stop(self, grace: float = 3.0) -> None:
        if not self.alive():
            return
        try:
            assert self._process.stdin is not None
            self._process.stdin.write(b'{"type": "stop"}\n')
            self._process.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        try:
            self._process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.alive():
            self._process.kill()
            self._process.wait()


class FunctionPool:
    """The warm workers of one function."""

    def __init__(
        self,
        spec: FunctionSpec,
        env: Mapping[str, str],
        root: Path,
        clock_module: str,
        log: Log,
        max_workers: int,
        enforce_timeout: bool = True,
    ) -> None:
        self.spec = spec
        self._env = env
        self._root = root
        self._clock_module = clock_module
        self._log = log
        self._max_workers = max_workers
        self._enforce_timeout = enforce_timeout
        self._workers: list[_WorkerProcess] = []
        self._idle: list[_WorkerProcess] = []
        self._condition = threading.Condition()
        self._spawned = 0
        self._stopped = False

    def _spawn(self) -> _WorkerProcess:
        self._spawned += 1
        label = (
            self.spec.logical_id
            if self._spawned == 1
            else (f"{self.spec.logical_id}#{self._spawned}")
        )
        worker = _WorkerProcess(
            self.spec, self._env, self._root, self._clock_module, self._log, label
        )
        self._workers.append(worker)
        return worker

    def start(self) -> None:
        with self._condition:
            self._idle.append(self._spawn())

    def wait_ready(self) -> dict[str, Any]:
        return self._workers[0].wait_ready(READY_TIMEOUT_S)

    def _acquire(self) -> _WorkerProcess:
        with self._condition:
            while True:
                if self._stopped:
                    raise WorkerGone("the local stack is stopping")
                if self._idle:
                    return self._idle.pop()
                if len(self._workers) < self._max_workers:
                    return self._spawn()
                self._condition.wait()

    def _release(self, worker: _WorkerProcess) -> None:
        with self._condition:
            if worker.alive() and not self._stopped:
                self._idle.append(worker)
            else:
                self._workers.remove(worker)
            self._condition.notify()

    def invoke(self, event: Any, now: datetime, request_id: str) -> tuple[bool, Any]:
        worker = self._acquire()
        timeout = self.spec.timeout_s if self._enforce_timeout else 3600.0
        message = {
            "type": "invoke",
            "request_id": request_id,
            "event": event,
            "now": now.isoformat(),
            "deadline_ms": int((time.time() + timeout) * 1000),
            "function_arn": self.spec.arn,
        }
        try:
            answer = worker.call(message, timeout + 1.0)
        except TimeoutError:
            return False, {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"Task timed out after {timeout:.2f} seconds",
            }
        except WorkerGone as exc:
            return False, {"errorType": "Runtime.ExitError", "errorMessage": str(exc)}
        finally:
            self._release(worker)
        if answer.get("ok"):
            return True, answer.get("result")
        return False, answer.get("error")

    def pids(self) -> list[int]:
        with self._condition:
            return [worker.pid for worker in self._workers if worker.alive()]

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            workers = list(self._workers)
            self._condition.notify_all()
        for worker in workers:
            worker.stop()


class Runtime:
    """Every local function, and a record of the invocations they served."""

    def __init__(
        self,
        specs: list[FunctionSpec],
        aws_endpoint: str,
        root: Path,
        clock: SimulatedClock,
        log: Log,
        clock_module: str = CLOCK_MODULE,
        max_workers: int = 4,
        enforce_timeouts: bool = True,
        history: int = 1000,
    ) -> None:
        self.specs = {spec.logical_id: spec for spec in specs}
        self.clock = clock
        self._log = log
        self._pools = {
            spec.logical_id: FunctionPool(
                spec,
                function_environment(spec, aws_endpoint, root),
                root,
                clock_module,
                log,
                max_workers,
                enforce_timeouts,
            )
            for spec in specs
        }
        self._in_flight = 0
        self._activity = 0
        self._lock = threading.Condition()
        self.history: collections.deque[Invocation] = collections.deque(maxlen=history)

    def start(self) -> dict[str, dict[str, Any]]:
        """Start one warm worker per function; their readiness (init time, init error)."""
        for pool in self._pools.values():
            pool.start()
        return {logical_id: pool.wait_ready() for logical_id, pool in self._pools.items()}

    def stop(self) -> None:
        for pool in self._pools.values():
            pool.stop()

    def pids(self) -> dict[str, list[int]]:
        return {logical_id: pool.pids() for logical_id, pool in self._pools.items()}

    def function_by_name(self, name: str) -> str | None:
        for spec in self.specs.values():
            if name in (spec.name, spec.logical_id, spec.arn):
                return spec.logical_id
        return None

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @property
    def activity(self) -> int:
        """How many invocations have started so far (to tell whether anything happened)."""
        with self._lock:
            return self._activity

    def invoke(self, function: str, event: Any, source: str = "direct") -> Invocation:
        pool = self._pools.get(function)
        if pool is None:
            raise KeyError(f"no local function {function!r}")
        request_id = str(uuid.uuid4())
        with self._lock:
            self._in_flight += 1
            self._activity += 1
        now = self.clock.now()
        started = time.monotonic()
        try:
            ok, payload = pool.invoke(event, now, request_id)
        finally:
            with self._lock:
                self._in_flight -= 1
                self._lock.notify_all()
        invocation = Invocation(
            function=function,
            request_id=request_id,
            source=source,
            at=now,
            ok=ok,
            result=payload if ok else None,
            error=None if ok else payload,
            duration_ms=round((time.monotonic() - started) * 1000),
            event=event,
        )
        self.history.append(invocation)
        if not ok:
            error = payload or {}
            self._log(
                f"{function} | {source} invocation {request_id} failed: "
                f"{error.get('errorType')}: {error.get('errorMessage')}"
            )
        return invocation
