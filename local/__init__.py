"""The local stack (``make run``): AWS and Stripe emulators, warm function workers, stream
pumps, a simulated clock with schedules, and a gateway. See ``local.stack.LocalStack``.

Kept free of imports: the function workers run ``python -m local.worker`` and must load
nothing else of the local stack.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.stack import LocalStack

__all__ = ["LocalStack"]


def __getattr__(name: str) -> Any:
    # ``from local import LocalStack`` without loading the stack in every worker.
    if name == "LocalStack":
        from local.stack import LocalStack

        return LocalStack
    raise AttributeError(name)
