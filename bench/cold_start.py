"""2. Cold starts: a fresh Python process that imports a function's handler module, which
builds at import what the function builds at init, measured against the floor.

The process sees what Lambda's would: the function's own code asset (``build/assets/
<name>``, so it cannot import another function's package) and, of the packages installed
here, only those the dependency layer holds (``build/layer/python``); an import of anything
else (a test's or the local stack's package) fails in it as it would in Lambda. Its
environment is the function's, from the synthesized template, with Lambda's own variables
(tracing is on, as deployed) and an AWS endpoint that answers nothing, so that a request at
init would fail the run rather than time a network.

The floor is a fresh process, with the same environment and guard, that imports boto3 and
creates a DynamoDB client. Figures are medians of CPU time (user + system) of the process,
which is its wall time on an idle machine and does not grow when another process takes the
CPU; wall-time medians are shown beside.

Bytecode: Lambda cannot write ``__pycache__`` (its code is read-only), so a module without
compiled bytecode in the asset or the layer is compiled from source at every cold start.
Both are measured: with bytecode for every module (what a build that ships it gives), and
with bytecode for the standard library only (what Lambda runs when the build ships none).
The figure with the target is the one the current build gives (``infra/assets.py``).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

from bench.report import REPO_ROOT, Figure, Section, Table
from infra import assets, names

TEMPLATE = REPO_ROOT / "cdk.out" / f"{names.STACK_NAME}.template.json"
WORK = REPO_ROOT / "build" / "bench" / "cold"
TARGET = 1.25
MIN_RUNS = 15
# Functions whose every path needs no Stripe at init (the list): grace_check's
# scheduling path runs at every hourly run; Stripe is needed only for a retry.
NO_STRIPE = (names.ON_LEAD, names.BUDGET_RESET, names.GRACE_CHECK)
# What a function imports on first use rather than at init, by the paths that need it:
# measured as "init + deferred" so that what moved out of the init shows where it went.
_RENDERING = ("jinja2", "babel.dates", "babel.numbers", "markupsafe")
_STRIPE = ("functions.adapters.payments", "functions.adapters.secrets")
DEFERRED: dict[str, tuple[str, ...]] = {
    names.WEEKLY_INVOICE: (*_STRIPE, "functions.adapters.invoice_pdf_layout", *_RENDERING),
    names.GRACE_CHECK: (*_STRIPE, *_RENDERING),
    names.BUDGET_RESET: _RENDERING,
    names.NOTIFY: _RENDERING,
    names.CARD_UPDATED: ("functions.adapters.invoice_pdf_layout", *_RENDERING),
    names.RECONCILE: (*_STRIPE, "functions.adapters.invoice_pdf_layout", *_RENDERING),
}

# The child: refuse what Lambda would not have, then run the case's code.
_GUARD = r"""
import sys
_absent = frozenset(sys.argv[1].split(","))
_blocked = []
class _LambdaPackages:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in _absent:
            return None
        _blocked.append(name)
        raise ModuleNotFoundError(f"No module named {name!r} (not in the layer)", name=name)
sys.meta_path.insert(0, _LambdaPackages())
"""
_FLOOR = "import boto3\nboto3.client('dynamodb')\n"
_REPORT = r"""
import json
print(json.dumps({
    "modules": sorted({name.partition(".")[0] for name in sys.modules}),
    "all": sorted(sys.modules),
    "stripe": "stripe" in sys.modules,
    "blocked": sorted(set(_blocked)),
    "failed": _failed,
}))
"""


# Where the init goes: the layer's packages a function imports, by group, in this order;
# then the handler module itself (the function's code, its clients, its init).
GROUPS = (
    ("Powertools", ("aws_lambda_powertools", "aws_xray_sdk", "wrapt", "typing_extensions")),
    ("PynamoDB", ("pynamodb",)),
    ("pydantic", ("pydantic", "pydantic_core", "annotated_types", "typing_inspection")),
    ("Stripe", ("stripe", "requests", "charset_normalizer", "idna", "certifi", "urllib3")),
    ("rendering", ("jinja2", "markupsafe", "babel", "fpdf", "PIL", "fontTools", "defusedxml")),
)
_STEPS = r"""
import importlib, json, time
_times = {}
_start = time.perf_counter()
import boto3
boto3.client("dynamodb")
_times["floor"] = time.perf_counter() - _start
for _label, _modules in json.loads(sys.argv[2]):
    _start = time.perf_counter()
    for _module in _modules:
        try:
            importlib.import_module(_module)
        except Exception:
            pass
    _times[_label] = time.perf_counter() - _start
_start = time.perf_counter()
importlib.import_module(sys.argv[3])
_times["handler"] = time.perf_counter() - _start
print(json.dumps(_times))
"""


def _inventory(code: str) -> str:
    """``code`` run so that a failure is reported rather than raised."""
    body = "".join(f"    {line}\n" for line in code.splitlines())
    return (
        "_failed = None\ntry:\n" + body + "except Exception as error:\n"
        "    _failed = f'{type(error).__name__}: {error}'\n" + _REPORT
    )


def _layer_packages(layer: Path) -> set[str]:
    """Top-level importable names in the layer: packages, modules, extension modules."""
    found = set()
    for entry in layer.iterdir():
        name = entry.name
        if name.endswith((".dist-info", ".egg-info")) or name in ("bin", "__pycache__"):
            continue
        found.add(name.split(".", 1)[0] if entry.is_file() else name)
    return found


def _environment(function: str, template: dict[str, Any], asset: Path) -> dict[str, str]:
    """The function's environment from the template, its references resolved to names."""
    resources = template["Resources"]
    properties = resources[names.FUNCTION_LOGICAL_IDS[function]]["Properties"]
    variables = {}
    for name, value in properties["Environment"]["Variables"].items():
        variables[name] = _resolve(value, resources)
    memory = str(properties.get("MemorySize", 128))
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(asset),
        "LAMBDA_TASK_ROOT": str(asset),
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": memory,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "_HANDLER": names.handler_path(function),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        # Nothing listens here: a request at init fails the run instead of being timed.
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        **variables,
    }


def _resolve(value: Any, resources: dict[str, Any]) -> str:
    if isinstance(value, str):
        return value
    if "Ref" in value:
        logical_id = value["Ref"]
        kind = resources.get(logical_id, {}).get("Type", "")
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.us-east-1.amazonaws.com/123456789012/{logical_id}"
        return str(logical_id)
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return f"arn:aws:bench:us-east-1:123456789012:{logical_id}/{attribute}"
    return json.dumps(value)


class Runner:
    """Fresh processes of one case, timed; bytecode as a build would ship it or not."""

    def __init__(self, absent: set[str]) -> None:
        self.absent = ",".join(sorted(absent))
        self.with_bytecode = WORK / "pyc-all"
        self.stdlib_only = WORK / "pyc-stdlib"

    def prepare(self) -> None:
        """The bytecode caches: the standard library alone, compiled once."""
        if self.stdlib_only.exists():
            return
        staging = WORK / ".pyc-stdlib"
        shutil.rmtree(staging, ignore_errors=True)
        stdlib = sysconfig.get_paths()["stdlib"]
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", "-x", "test|idlelib|tkinter", stdlib],
            env={**os.environ, "PYTHONPYCACHEPREFIX": str(staging)},
            check=False,  # a few files of the test suite do not compile; they are not needed
            capture_output=True,
        )
        staging.rename(self.stdlib_only)

    def run(
        self, code: str, environment: dict[str, str], *, bytecode: bool, args: tuple[str, ...] = ()
    ) -> tuple[float, float, str]:
        """(CPU seconds, wall seconds, output) of one fresh process running ``code``."""
        env = dict(environment)
        if bytecode:
            env["PYTHONPYCACHEPREFIX"] = str(self.with_bytecode)
        else:
            env["PYTHONPYCACHEPREFIX"] = str(self.stdlib_only)
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", _GUARD + code, self.absent, *args],
            env=env,
            cwd=environment["LAMBDA_TASK_ROOT"],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if result.returncode != 0:
            raise RuntimeError(f"the cold start failed:\n{result.stderr[-3000:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return cpu, wall, result.stdout


def _breakdown(
    runner: Runner,
    functions: list[str],
    environments: dict[str, dict[str, str]],
    inventory: dict[str, dict[str, Any]],
    runs: int,
) -> dict[str, dict[str, float]]:
    """Each function's init, step by step in one process (``GROUPS``), medians."""
    result = {}
    for function in functions:
        imported = inventory[function]["all"]
        steps = [
            (label, [name for name in imported if name.partition(".")[0] in packages])
            for label, packages in GROUPS
        ]
        arguments = (json.dumps(steps), f"functions.{function}.handler")
        samples = [
            json.loads(runner.run(_STEPS, environments[function], bytecode=True, args=arguments)[2])
            for _ in range(runs)
        ]
        result[function] = {
            label: statistics.median(sample[label] for sample in samples) for label in samples[0]
        }
    return result


def _import(function: str) -> str:
    return f"import functions.{function}.handler\n"


def _asset_size(asset: Path) -> tuple[int, int, int, bool]:
    """(files, bytes, zipped bytes, ships bytecode) of a code asset."""
    files = [path for path in sorted(asset.rglob("*")) if path.is_file()]
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(asset))
    compiled = any(path.suffix == ".pyc" for path in files)
    return len(files), sum(path.stat().st_size for path in files), len(buffer.getvalue()), compiled


def _layer_bytecode(layer: Path) -> bool:
    tag = f"cpython-{assets.LAYER_PYTHON_VERSION.replace('.', '')}"
    return any(layer.glob(f"botocore/__pycache__/*.{tag}.pyc"))


def _megabytes(count: int) -> str:
    return f"{count / 1024 / 1024:.2f} MB" if count >= 1024 * 1024 else f"{count / 1024:.0f} KB"


def measure(options: dict[str, Any]) -> Section:
    runs = int(options.get("runs", MIN_RUNS))
    functions = list(names.FUNCTION_SETTINGS)
    layer = assets.LAYER_DIR / "python"
    if not layer.is_dir() or not TEMPLATE.exists():
        raise SystemExit("no synthesized template or dependency layer: run `make synth` first")
    template = json.loads(TEMPLATE.read_text())
    WORK.mkdir(parents=True, exist_ok=True)
    code_assets = {function: assets.function_code(function) for function in functions}
    installed: set[str] = set()
    for directory in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        installed |= _layer_packages(Path(directory))
    layer_names = _layer_packages(layer)
    runner = Runner(installed - layer_names - set(sys.stdlib_module_names) - {"functions"})
    runner.prepare()
    environments = {f: _environment(f, template, code_assets[f]) for f in functions}
    floor_environment = environments[names.ON_LEAD]

    # Warm the bytecode cache and the file system, and take each function's inventory.
    inventory: dict[str, dict[str, Any]] = {}
    floor_modules = set(
        json.loads(runner.run(_inventory(_FLOOR), floor_environment, bytecode=True)[2])["modules"]
    )
    for function in functions:
        output = runner.run(_inventory(_import(function)), environments[function], bytecode=True)
        inventory[function] = json.loads(output[2])
    failing = {f: inventory[f]["failed"] for f in functions if inventory[f]["failed"]}
    functions = [f for f in functions if f not in failing]
    for function in functions:
        deferred = "".join(f"import {module}\n" for module in DEFERRED.get(function, ()))
        if deferred:
            runner.run(_import(function) + deferred, environments[function], bytecode=True)

    cases: dict[str, tuple[str, dict[str, str]]] = {"floor": (_FLOOR, floor_environment)}
    for function in functions:
        cases[function] = (_import(function), environments[function])
        deferred = "".join(f"import {module}\n" for module in DEFERRED.get(function, ()))
        if deferred:
            cases[f"{function}+deferred"] = (_import(function) + deferred, environments[function])

    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for _ in range(runs):  # interleaved, so that a busy moment costs every case alike
        for name, (code, environment) in cases.items():
            cpu_seconds, wall_seconds, _ = runner.run(code, environment, bytecode=True)
            samples[name].append((cpu_seconds, wall_seconds))
    source_runs = max(3, runs // 3)
    from_source: dict[str, list[float]] = {name: [] for name in ("floor", *functions)}
    for _ in range(source_runs):
        for name in from_source:
            code, environment = cases[name]
            from_source[name].append(runner.run(code, environment, bytecode=False)[0])

    def cpu(name: str) -> float:
        return statistics.median(sample[0] for sample in samples[name])

    def wall(name: str) -> float:
        return statistics.median(sample[1] for sample in samples[name])

    floor, floor_source = cpu("floor"), statistics.median(from_source["floor"])
    breakdown = _breakdown(runner, functions, environments, inventory, max(3, runs // 3))
    sizes = {function: _asset_size(code_assets[function]) for function in functions}
    shipped = _layer_bytecode(layer) and all(size[3] for size in sizes.values())

    section = Section(
        "cold",
        "2. Cold starts",
        parameters={
            "runs per case": runs,
            "runs from source": source_runs,
            "bytecode shipped by the build": "yes" if shipped else "no",
        },
    )
    for function in functions:
        ratio = (
            cpu(function) / floor if shipped else statistics.median(from_source[function]) / floor
        )
        section.figures.append(
            Figure(
                f"{function} init / floor",
                ratio,
                "x",
                f"<= {TARGET}",
                f"floor {floor * 1000:.0f} ms CPU (boto3 + a DynamoDB client), median of {runs}"
                + ("" if shipped else "; the build ships no bytecode, so from source"),
            )
        )
    stripe_at_init = [f for f in NO_STRIPE if inventory[f]["stripe"]]
    section.figures.append(
        Figure(
            "functions importing Stripe at init that need none",
            len(stripe_at_init),
            "",
            "== 0",
            f"of {', '.join(NO_STRIPE)}"
            + (f": {', '.join(stripe_at_init)}" if stripe_at_init else ""),
        )
    )
    section.figures.append(
        Figure(
            "functions whose init needs what Lambda does not have",
            len(failing),
            "",
            "== 0",
            "imports outside the function's asset and the layer (a test's or the local "
            "stack's package, another function's)"
            + "".join(f"; {name}: {reason}" for name, reason in failing.items()),
        )
    )
    rows = []
    for function in functions:
        files, size, zipped, compiled = sizes[function]
        deferred_case = f"{function}+deferred"
        rows.append(
            [
                function,
                f"{cpu(function) * 1000:.0f} ms",
                f"{cpu(function) / floor:.2f}",
                f"{wall(function) * 1000:.0f} ms",
                f"{cpu(deferred_case) / floor:.2f}" if deferred_case in samples else "-",
                f"{statistics.median(from_source[function]) * 1000:.0f} ms",
                f"{statistics.median(from_source[function]) / floor:.2f}",
                "yes" if inventory[function]["stripe"] else "no",
                f"{_megabytes(zipped)} ({files} files, {_megabytes(size)} unzipped"
                + (", with bytecode)" if compiled else ")"),
            ]
        )
    rows.insert(
        0,
        [
            "floor",
            f"{floor * 1000:.0f} ms",
            "1.00",
            f"{wall('floor') * 1000:.0f} ms",
            "-",
            f"{floor_source * 1000:.0f} ms",
            f"{floor_source / floor:.2f}",
            "no",
            "-",
        ],
    )
    section.tables.append(
        Table(
            "Each function (CPU medians; ratios to the floor with bytecode)",
            [
                "function",
                "init CPU",
                "/ floor",
                "init wall",
                "init + deferred / floor",
                "init from source",
                "/ floor",
                "Stripe at init",
                "code asset (zipped)",
            ],
            rows,
        )
    )
    labels = ["floor", *(label for label, _ in GROUPS), "handler"]
    section.tables.append(
        Table(
            "Where the init goes (ms, in process, medians): the floor, the layer's packages "
            "the function imports by group, then the handler module (the function's own "
            "code, its other AWS clients, Tracer's patching, its settings)",
            ["function", *labels, "total", "floor with its packages / floor"],
            [
                [
                    function,
                    *(f"{breakdown[function].get(label, 0.0) * 1000:.0f}" for label in labels),
                    f"{sum(breakdown[function].values()) * 1000:.0f}",
                    f"{_with_packages(breakdown[function], floor):.2f}",
                ]
                for function in functions
            ],
        )
    )
    layer_size = sum(path.stat().st_size for path in layer.rglob("*") if path.is_file())
    section.tables.append(
        Table(
            "Packages of the layer imported at init beyond the floor's",
            ["function", "packages", "optional imports tried, absent from the layer as in Lambda"],
            [
                [
                    function,
                    ", ".join(
                        sorted((set(inventory[function]["modules"]) - floor_modules) & layer_names)
                    )
                    or "-",
                    ", ".join(inventory[function]["blocked"]) or "-",
                ]
                for function in functions
            ],
        )
    )
    section.notes.append(
        f"The dependency layer every function shares: {_megabytes(layer_size)} unzipped, "
        f"bytecode {'shipped' if _layer_bytecode(layer) else 'not shipped'} "
        f"(`build/layer/python`)."
    )
    section.notes += _notes(functions, breakdown, floor, floor_source, from_source, cpu)
    return section


def _with_packages(steps: dict[str, float], floor: float) -> float:
    """The floor of a function that imports its packages and does nothing else, as a
    ratio to the floor: the process's floor CPU, plus what its packages take in process."""
    packages = sum(seconds for label, seconds in steps.items() if label not in ("floor", "handler"))
    return (floor + packages) / floor


def _notes(
    functions: list[str],
    breakdown: dict[str, dict[str, float]],
    floor: float,
    floor_source: float,
    from_source: dict[str, list[float]],
    cpu: Any,
) -> list[str]:
    lean = min(functions, key=lambda function: cpu(function))
    packages_floor = _with_packages(breakdown[lean], floor)
    powertools = breakdown[lean].get("Powertools", 0.0)
    own = breakdown[lean].get("handler", 0.0)
    worst_source = max(statistics.median(from_source[f]) for f in functions) / floor
    return [
        "What changed for this issue. (1) The build ships bytecode: Lambda's code is "
        "read-only, so a module without bytecode is compiled at every cold start; the "
        f'"from source" columns are that (the floor itself is {floor_source / floor:.2f}x '
        f"the floor with bytecode, the functions up to {worst_source:.1f}x). "
        "(2) The Stripe SDK, fpdf2 (with Pillow and fontTools), Jinja2 and Babel load "
        "when first used (`payment_provider`, `invoice_pdf_layout`, `email_format`): "
        "grace_check's hourly run and weekly_invoice's fan-out need no Stripe, notify, "
        'budget_reset and grace_check render an email for few of their runs; the "init + '
        'deferred" column is the cost that moved to the first use. (3) Settings are read '
        "without pydantic (about 40 ms in the five functions that need it for nothing else, "
        "and 30 ms more in on_lead, whose batch processor builds Powertools' pydantic event "
        "models when pydantic is loaded). (4) Tracer patches botocore only (every AWS call, "
        "PynamoDB's included; Stripe's HTTP client when it loads) rather than every library "
        "it knows. (5) Every model and transaction shares one DynamoDB client, built at init "
        "as the floor builds one, where PynamoDB built a session and a client per table "
        "during the first invocation (each parsing DynamoDB's service model again). "
        "Measured on this machine's CPython rather than on Lambda's (arm64, 3.12): the "
        "ratios are the figures, not the milliseconds.",
        f"Why 1.25 is not met, and the true floor. The leanest function, {lean}, spends "
        f"{powertools * 1000:.0f} ms in Powertools (Logger, Metrics, Tracer with the X-Ray "
        "SDK, the batch processor: the style's habits 1 and 7) and "
        f"{own * 1000:.0f} ms in its own module (the domain, its other AWS client, its "
        "init); a process that imports only its packages and does nothing is already "
        f"{packages_floor:.2f}x the floor (the table's last column). Reaching 1.25 would "
        "mean leaving Powertools and PynamoDB, which the codebase's style asks for; what "
        "each function adds on top of its packages is its handler column. The API "
        "functions also build Powertools' resolver with pydantic validation of every "
        "route at init, which their requests need.",
    ]
