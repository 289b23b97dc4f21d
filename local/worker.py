"""One warm Lambda execution environment: a subprocess that imports a handler once and
serves invocations.

Run as ``python -m local.worker HANDLER CLOCK_MODULE``. The parent (``local.runtime``)
writes one JSON message per line on the worker's stdin and reads one JSON answer per line
from its stdout. The worker moves those two pipes to private descriptors before it imports
anything, so whatever the function prints (Powertools' JSON logs and metrics included)
goes to stderr and cannot corrupt the protocol.

This module imports only the standard library: the environment the handler sees is the
function's own, as in Lambda.
"""

from __future__ import annotations

import decimal
import importlib
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from types import ModuleType
from typing import Any, BinaryIO

# The instant every ``clock.now()`` call returns during the current invocation.
_simulated_now: datetime | None = None


def _now() -> datetime:
    """Stands in for ``clock.now`` in the worker: the simulated instant of the invocation."""
    if _simulated_now is None:
        return datetime.now(UTC)
    return _simulated_now


class LambdaContext:
    """The attributes and method of the Python runtime's context object."""

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        self.aws_request_id = request_id
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = invoked_function_arn
        # The Python runtime reads this from the environment, so it is a string there too.
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _json_default(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc)[1:],
    }


class Worker:
    def __init__(self, handler_path: str, clock_module: str) -> None:
        self.handler_path = handler_path
        self.clock_module = clock_module
        self.handler: Callable[[Any, LambdaContext], Any] | None = None

    def install_clock(self) -> None:
        """Make ``<clock_module>.now`` the simulated clock before any function code runs,
        so both ``clock.now()`` and ``from ...clock import now`` see simulated time."""
        try:
            module: ModuleType = importlib.import_module(self.clock_module)
        except ModuleNotFoundError as exc:
            if exc.name is not None and self.clock_module.startswith(exc.name):
                print(
                    f"local worker: no module {self.clock_module}; the function reads real time",
                    file=sys.stderr,
                )
                return
            raise
        module.now = _now  # type: ignore[attr-defined]

    def init(self) -> dict[str, Any] | None:
        """Import the handler (the Lambda init phase); the error, if any, as Lambda reports it."""
        module_name, _, attribute = self.handler_path.rpartition(".")
        try:
            self.install_clock()
            module = importlib.import_module(module_name)
        except Exception as exc:
            return _error(exc, "Runtime.ImportModuleError")
        handler = getattr(module, attribute, None)
        if not callable(handler):
            return {
                "errorType": "Runtime.HandlerNotFound",
                "errorMessage": f"Handler '{attribute}' missing on module '{module_name}'",
                "stackTrace": [],
            }
        self.handler = handler
        return None

    def invoke(self, message: dict[str, Any]) -> str:
        """Run one invocation; the answer line, serialized."""
        global _simulated_now
        request_id = message["request_id"]
        if self.handler is None:
            # Lambda runs the init phase again when it failed before.
            init_error = self.init()
            if init_error is not None:
                return json.dumps({"request_id": request_id, "ok": False, "error": init_error})
        assert self.handler is not None
        now = message.get("now")
        _simulated_now = datetime.fromisoformat(now) if now else None
        context = LambdaContext(
            request_id, int(message["deadline_ms"]), message.get("function_arn", "")
        )
        try:
            result = self.handler(message["event"], context)
        except Exception as exc:
            return json.dumps({"request_id": request_id, "ok": False, "error": _error(exc)})
        finally:
            _simulated_now = None
            sys.stdout.flush()
            sys.stderr.flush()
        try:
            return json.dumps(
                {"request_id": request_id, "ok": True, "result": result}, default=_json_default
            )
        except (TypeError, ValueError) as exc:
            error = _error(exc, "Runtime.MarshalError")
            return json.dumps({"request_id": request_id, "ok": False, "error": error})


def _private_pipes() -> tuple[BinaryIO, BinaryIO]:
    """Keep stdin/stdout for the protocol; point the process's fd 0 at /dev/null and fd 1
    at stderr."""
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdin = open(os.devnull)  # noqa: SIM115
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    return proto_in, proto_out


def main(argv: list[str]) -> int:
    handler_path, clock_module = argv[1], argv[2]
    proto_in, proto_out = _private_pipes()

    def send(line: str) -> None:
        proto_out.write(line.encode() + b"\n")
        proto_out.flush()

    worker = Worker(handler_path, clock_module)
    started = time.monotonic()
    init_error = worker.init()
    init_ms = round((time.monotonic() - started) * 1000)
    send(json.dumps({"type": "ready", "init_error": init_error, "init_ms": init_ms}))
    for line in proto_in:
        if not line.strip():
            continue
        message = json.loads(line)
        if message.get("type") == "stop":
            break
        send(worker.invoke(message))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
