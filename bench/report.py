"""Figures beside their targets: what a section measured, printed and written to
``bench/RESULTS.md`` with the description of the machine that measured them."""

from __future__ import annotations

import json
import operator
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "bench" / "RESULTS.md"

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "<": operator.lt,
}


@dataclass
class Figure:
    """One measured figure, its target (``"<= 1.25"``) and what it is measured against."""

    name: str
    value: float
    unit: str = ""
    target: str | None = None
    reference: str = ""

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        comparison, bound = self.target.split()
        return _COMPARE[comparison](round(self.value, 6), float(bound))

    def shown_value(self) -> str:
        return _number(self.value) + (f" {self.unit}" if self.unit else "")

    def shown_target(self) -> str:
        return "-" if self.target is None else self.target

    def verdict(self) -> str:
        met = self.met
        return "" if met is None else ("met" if met else "NOT MET")


@dataclass
class Table:
    """Rows of detail under a section (the cold start of each function, say)."""

    title: str
    columns: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    key: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Section:
        data = json.loads(text)
        return cls(
            key=data["key"],
            title=data["title"],
            figures=[Figure(**figure) for figure in data["figures"]],
            tables=[Table(**table) for table in data["tables"]],
            notes=list(data["notes"]),
            parameters=dict(data["parameters"]),
            seconds=float(data["seconds"]),
        )


def _number(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


# ---------------------------------------------------------------------- terminal


def print_section(section: Section, out: Any = sys.stdout) -> None:
    print(f"\n== {section.title}  ({section.seconds:.0f} s)", file=out)
    rows = [["figure", "value", "target", "", "measured against"]]
    rows += [
        [f.name, f.shown_value(), f.shown_target(), f.verdict(), f.reference]
        for f in section.figures
    ]
    _print_rows(rows, out)
    for table in section.tables:
        print(f"\n   {table.title}", file=out)
        _print_rows([table.columns, *table.rows], out, indent="   ")


def _print_rows(rows: Sequence[Sequence[str]], out: Any, indent: str = "") -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        print(indent + "  ".join(cells).rstrip(), file=out)


# ---------------------------------------------------------------------- RESULTS.md


def machine() -> dict[str, str]:
    """What measured: the CPU, its count, memory, Python, the packages, the commit."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    packages = ", ".join(
        f"{name} {_version(name)}"
        for name in ("boto3", "pynamodb", "aws-lambda-powertools", "stripe", "moto", "localstripe")
    )
    return {
        "machine": f"{platform.system()} {platform.release()} {platform.machine()}",
        "cpu": f"{cpu}, {os.cpu_count()} CPUs" + (f", {memory}" if memory else ""),
        "load": _load(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "packages": packages,
        "commit": _commit(),
    }


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def _load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min) when the run ended"


def _commit() -> str:
    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
        return result.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return commit + (" with uncommitted changes" if dirty else "")


def write_results(
    sections: Sequence[Section], options: dict[str, Any], preamble: str, path: Path = RESULTS
) -> None:
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`python -m bench`); every figure beside its target and "
        "what it is measured against. Do not edit by hand: run it again.",
        "",
        f"Run {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
        "",
        "| | |",
        "| --- | --- |",
        *[f"| {key} | {value} |" for key, value in machine().items()],
        f"| options | `{' '.join(f'--{k}={v}' for k, v in options.items())}` |",
        "",
        preamble.strip(),
        "",
        "## Summary",
        "",
        "| section | figure | value | target | |",
        "| --- | --- | --- | --- | --- |",
    ]
    for section in sections:
        for figure in section.figures:
            if figure.target is not None:
                lines.append(
                    f"| {section.title} | {figure.name} | {figure.shown_value()} "
                    f"| {figure.shown_target()} | {figure.verdict()} |"
                )
    for section in sections:
        lines += ["", f"## {section.title}", ""]
        lines += [
            "| figure | value | target | | measured against |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {f.name} | {f.shown_value()} | {f.shown_target()} | {f.verdict()} | {f.reference} |"
            for f in section.figures
        ]
        for table in section.tables:
            lines += ["", f"{table.title}:", ""]
            lines.append("| " + " | ".join(table.columns) + " |")
            lines.append("|" + " --- |" * len(table.columns))
            lines += ["| " + " | ".join(row) + " |" for row in table.rows]
        if section.parameters:
            shown = ", ".join(f"{key} {value}" for key, value in section.parameters.items())
            lines += ["", f"Parameters: {shown}. Took {section.seconds:.0f} s."]
        for note in section.notes:
            lines += ["", note.strip()]
    path.write_text("\n".join(lines).rstrip() + "\n")
