"""``make run``: the whole system locally, until Ctrl-C.

Ports come from LOCAL_API_PORT (3000), LOCAL_AWS_PORT (5001) and LOCAL_STRIPE_PORT
(8420); LOCAL_CLOCK_START (ISO 8601) sets the simulated clock's first instant;
``--no-demo`` or LOCAL_DEMO=0 skips the demo account; ``--template PATH`` runs a given
template instead of synthesizing ``cdk.out/LeadBilling.template.json``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from local.clock import parse_instant
from local.demo import banner
from local.stack import LocalStack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    parser.add_argument("--no-demo", action="store_true", help="do not create the demo account")
    parser.add_argument("--template", type=Path, help="a synthesized template to run as is")
    args = parser.parse_args(argv)
    clock_start = os.environ.get("LOCAL_CLOCK_START")
    stack = LocalStack(
        api_port=int(os.environ.get("LOCAL_API_PORT", "3000")),
        aws_port=int(os.environ.get("LOCAL_AWS_PORT", "5001")),
        stripe_port=int(os.environ.get("LOCAL_STRIPE_PORT", "8420")),
        clock_start=parse_instant(clock_start) if clock_start else None,
        demo=not args.no_demo and os.environ.get("LOCAL_DEMO", "1") != "0",
        access_log=True,
        template_path=args.template,
    )

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)  # Ctrl-C already raises KeyboardInterrupt
    try:
        try:
            stack.start()  # a failed start stops whatever it had started
        except Exception as exc:
            print(f"local stack failed to start: {exc}", file=sys.stderr)
            return 1
        print(banner(stack), flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("stopping the local stack ...", file=sys.stderr, flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
