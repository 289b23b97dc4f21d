"""Run one benchmark section in this process: ``python -m bench.section KEY OPTIONS OUT``.

Every section runs in a fresh process of its own, so that the request hooks are in place
before any botocore session exists, moto's state and the handler modules start clean, and
one section's imports do not make another's look cheap. What the functions print (logs,
metrics) goes to the section's log; the section's figures go to ``OUT`` as JSON.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import sys
import time
from pathlib import Path

from bench.counting import LOG

SECTIONS = {
    "trips": "bench.round_trips",
    "cold": "bench.cold_start",
    "friday": "bench.friday_cost",
    "throughput": "bench.throughput",
    "scale": "bench.friday_scale",
}


def main(argv: list[str]) -> int:
    key, options, out = argv[1], json.loads(argv[2]), Path(argv[3])
    LOG.install()
    module = importlib.import_module(SECTIONS[key])
    started = time.monotonic()
    # Handlers print their logs and metrics on stdout; the figures travel in OUT.
    with contextlib.redirect_stdout(sys.stderr):
        section = module.measure(options)
    section.seconds = time.monotonic() - started
    out.write_text(section.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
