"""``python -m bench``: every benchmark, each figure beside its target, written to
``bench/RESULTS.md``.

Sizes default to the issue's; smaller ones are for trying things out
(``python -m bench --only trips,cold --cold-runs 5 --no-write``). Each section runs in a
process of its own (``bench.section``); its output goes to ``build/bench/<section>.log``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bench.report import REPO_ROOT, RESULTS, Section, print_section, write_results
from bench.section import SECTIONS

LOG_DIR = REPO_ROOT / "build" / "bench"

PREAMBLE = """
Five sections, each in a fresh process. Requests are counted as they leave the process
(a botocore event hook on every client, `bench/counting.py`; the Stripe SDK's HTTP client
for Stripe). Emulators: moto (in process, or its server for throughput) and localstripe.
Cold starts are CPU time of fresh processes, so another process on the machine does not
inflate them; wall time is shown beside.
"""


def _options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", default=",".join(SECTIONS), help="sections, comma separated")
    parser.add_argument("--leads", type=int, default=100, help="1: leads in the stream batch")
    parser.add_argument("--cold-runs", type=int, default=15, help="2: runs per function")
    parser.add_argument("--accounts", type=int, default=10_000, help="3: accounts")
    parser.add_argument("--billable", type=int, default=1_000, help="3: accounts to invoice")
    parser.add_argument("--charges", type=int, default=3, help="3: unbilled leads each")
    parser.add_argument("--throughput-leads", type=int, default=2_000, help="4: leads")
    parser.add_argument("--contractors", type=int, default=100_000, help="5: accounts")
    parser.add_argument("--also-contractors", type=int, default=1_000_000, help="5: and")
    parser.add_argument("--seed", type=int, default=8, help="5: the simulation's seed")
    parser.add_argument("--no-write", action="store_true", help=f"leave {RESULTS} as it is")
    return parser.parse_args(argv)


def _section_options(key: str, options: argparse.Namespace) -> dict[str, object]:
    return {
        "trips": {"leads": options.leads},
        "cold": {"runs": options.cold_runs},
        "friday": {
            "accounts": options.accounts,
            "billable": options.billable,
            "charges": options.charges,
        },
        "throughput": {"leads": options.throughput_leads},
        "scale": {
            "contractors": options.contractors,
            "also": options.also_contractors,
            "seed": options.seed,
        },
    }[key]


def run_section(key: str, options: dict[str, object]) -> Section:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    out = LOG_DIR / f"{key}.json"
    out.unlink(missing_ok=True)
    log = LOG_DIR / f"{key}.log"
    started = time.monotonic()
    with log.open("w") as stream:
        result = subprocess.run(
            [sys.executable, "-m", "bench.section", key, json.dumps(options), str(out)],
            cwd=REPO_ROOT,
            stdout=stream,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0 or not out.exists():
        tail = "\n".join(log.read_text().splitlines()[-30:])
        raise SystemExit(
            f"bench section {key} failed after {time.monotonic() - started:.0f} s "
            f"(exit status {result.returncode}); the end of {log}:\n{tail}"
        )
    return Section.from_json(out.read_text())


def main(argv: list[str]) -> int:
    options = _options(argv)
    keys = [key.strip() for key in options.only.split(",") if key.strip()]
    unknown = sorted(set(keys) - set(SECTIONS))
    if unknown:
        raise SystemExit(f"unknown sections {unknown}; known: {', '.join(SECTIONS)}")
    sections = []
    measured: dict[str, object] = {}
    for key in SECTIONS:
        if key not in keys:
            continue
        print(f"-- running {key} ...", flush=True)
        section_options = _section_options(key, options)
        if key == "scale":
            # The simulation takes one invoice's work as section 3 measured it.
            section_options["measured"] = measured
        section = run_section(key, section_options)
        if key == "friday":
            measured = json.loads(str(section.parameters.pop("measured", "{}")))
        print_section(section)
        sections.append(section)
    if not options.no_write:
        shown = {
            name: value
            for name, value in vars(options).items()
            if name not in ("no_write",) and value is not None
        }
        write_results(sections, shown, PREAMBLE)
        print(f"\nwritten to {Path(RESULTS).relative_to(REPO_ROOT)}")
    missed = [
        f"{section.title}: {figure.name}"
        for section in sections
        for figure in section.figures
        if figure.met is False
    ]
    if missed:
        print(f"\n{len(missed)} target(s) not met:\n  " + "\n  ".join(missed))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
