"""The code the functions run, built at synth time under ``build/``.

Function code: each function gets its own asset directory, ``build/assets/<name>/``, that
holds only ``functions/__init__.py``, the shared ``functions/billing/`` and
``functions/adapters/`` packages and the function's own package: their ``*.py`` files and
the Jinja templates (``*.j2``) the modules load from beside them, such as
``functions/adapters/templates/``; no caches, nothing else. A function therefore cannot
import another function's package, and a change to one function's code changes only that
function's asset hash.

Dependencies: one Lambda layer shared by every function, built into
``build/layer/python/`` by pip for the Lambda platform (CPython 3.12, manylinux2014 or
manylinux_2_28 aarch64, wheels only) from ``[project.dependencies]`` of ``pyproject.toml``,
each pinned to its version in ``requirements.lock`` and every transitive package
constrained by that lock.
Powertools is bundled in this layer rather than taken from the AWS-managed Powertools
layer, which would bring its own pydantic and boto3; boto3 and botocore are bundled rather
than taken from the runtime for the same reason. The functions run on exactly the versions
the tests ran on, and the layer's ``/opt/python`` comes before the runtime's packages on the
Lambda import path.

Bytecode: Lambda's code and layers are read-only, so Python cannot write ``__pycache__``
there and compiles every module without bytecode from source at every cold start (about
three times the import cost of the same modules with bytecode; ``bench/cold_start.py``
measures both). When an interpreter of the runtime's Python is found (``$LAMBDA_PYTHON``,
``python3.12`` on the path, or pyenv's 3.12), the layer and every function asset are
compiled with it, hash-checked (``--invalidation-mode checked-hash``: Python uses the
bytecode only while it matches the source beside it, whatever the files' times after
zipping). Without one they ship source only, and the synth says so.

pip runs once per change of the lock: the built layer is kept with a key, a hash of
``requirements.lock``, ``pyproject.toml``, the pip arguments and the bytecode's
interpreter, and reused while the key matches. A synth that needs to build the layer and
cannot (no access to the package index, no wheel for the platform) fails with
``LayerBuildError``; it never produces a stack with a missing or partial layer.
"""

from __future__ import annotations

import fcntl
import functools
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO_ROOT / "functions"
PYPROJECT = REPO_ROOT / "pyproject.toml"
REQUIREMENTS_LOCK = REPO_ROOT / "requirements.lock"

BUILD_DIR = REPO_ROOT / "build"
ASSETS_DIR = BUILD_DIR / "assets"
LAYER_DIR = BUILD_DIR / "layer"
_LAYER_KEY_FILE = BUILD_DIR / "layer.key"
_BUILD_LOCK_FILE = BUILD_DIR / ".build.lock"

# Packages of functions/ that every function may import.
SHARED_PACKAGES = ("billing", "adapters", "usecases")

# The files of those packages that a function runs with: modules, and the templates that
# modules read from the directory beside them (FileSystemLoader needs no package metadata).
CODE_SUFFIXES = frozenset({".py", ".j2"})

# The Lambda platform the layer is built for; matches the runtime and architecture the
# functions are deployed with (infra/function.py). The Python 3.12 runtime runs on Amazon
# Linux 2023 (glibc 2.34), so manylinux_2_28 wheels (Pillow's, for one) run there too.
LAYER_PYTHON_VERSION = "3.12"
_PIP_PLATFORM_ARGS = (
    "--platform",
    "manylinux2014_aarch64",
    "--platform",
    "manylinux_2_28_aarch64",
    "--implementation",
    "cp",
    "--python-version",
    LAYER_PYTHON_VERSION,
    "--only-binary=:all:",
)


# Hash-checked bytecode: valid while it matches its source, whatever the files' times.
_COMPILE_ARGS = ("-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "checked-hash")


class LayerBuildError(RuntimeError):
    """The dependency layer could not be built; the synth cannot produce a working stack."""


@dataclass(frozen=True)
class DependencyLayer:
    path: Path  # the layer's root, holding python/
    key: str  # changes exactly when the layer's content may change


@contextmanager
def _build_lock() -> Iterator[None]:
    """Serialise builds: test workers and a local synth may build at the same time."""
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with _BUILD_LOCK_FILE.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _replace_dir(built: Path, target: Path) -> None:
    """Put ``built`` at ``target``, so that ``target`` is never seen half written."""
    if target.exists():
        retired = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(retired)
        built.rename(target)
        shutil.rmtree(retired)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        built.rename(target)


@functools.cache
def lambda_python() -> str | None:
    """An interpreter of the runtime's Python (``LAYER_PYTHON_VERSION``) to compile the
    bytecode the functions run with; None when this machine has none."""
    version = LAYER_PYTHON_VERSION
    candidates = [os.environ.get("LAMBDA_PYTHON", ""), f"python{version}"]
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python{version}"))
    for candidate in candidates:
        if not candidate:
            continue
        found = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
        if found is None:
            continue
        # A pyenv shim exists for every version it knows and fails for inactive ones.
        probe = subprocess.run(  # noqa: S603 - the interpreter found, asked its version
            [found, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return found
    return None


def bytecode_tag() -> str:
    """What the built code is compiled for: ``cpython-312``, or ``source`` (no bytecode)."""
    return f"cpython-{LAYER_PYTHON_VERSION.replace('.', '')}" if lambda_python() else "source"


@functools.cache
def _no_bytecode_warning() -> None:
    warnings.warn(
        f"no Python {LAYER_PYTHON_VERSION} found (set LAMBDA_PYTHON): the layer and the "
        "function assets ship without bytecode, and Lambda compiles every module at every "
        "cold start",
        stacklevel=3,
    )


def _compile(directory: Path, *, strict: bool) -> None:
    """Write hash-checked bytecode for the runtime's Python beside every module. ``strict``:
    a module that does not compile fails the build (the functions' own code); otherwise it
    is left as source (a dependency's file that no import reaches, such as a test or a
    Python 2 leftover)."""
    python = lambda_python()
    if python is None:
        _no_bytecode_warning()
        return
    result = subprocess.run(  # noqa: S603 - the runtime's interpreter, on our build output
        [python, *_COMPILE_ARGS, str(directory)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0 and strict:
        raise LayerBuildError(
            f"compiling {directory} for Python {LAYER_PYTHON_VERSION} failed:\n"
            f"{result.stdout.strip()}\n{result.stderr.strip()}"
        )


def _bytecode_of(source: Path) -> Path:
    """Where the runtime's Python looks for the bytecode of ``source``."""
    return source.parent / "__pycache__" / f"{source.stem}.{bytecode_tag()}.pyc"


def _function_sources(name: str) -> dict[Path, Path]:
    """The files of a function's asset: path inside the asset -> source file."""
    sources = {Path("functions/__init__.py"): FUNCTIONS_DIR / "__init__.py"}
    for package in (*SHARED_PACKAGES, name):
        source = FUNCTIONS_DIR / package
        if not source.is_dir():
            continue
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(FUNCTIONS_DIR)
            if (
                path.suffix in CODE_SUFFIXES
                and path.is_file()
                and "__pycache__" not in relative.parts
            ):
                sources[Path("functions") / relative] = path
    return sources


def _holds_exactly(directory: Path, sources: dict[Path, Path]) -> bool:
    """Whether ``directory`` holds exactly these sources, each module with its bytecode
    when bytecode is built (and none when it is not)."""
    if not directory.is_dir():
        return False
    present = {path.relative_to(directory) for path in directory.rglob("*") if path.is_file()}
    expected = set(sources)
    if lambda_python() is not None:
        expected |= {_bytecode_of(relative) for relative in sources if relative.suffix == ".py"}
    return present == expected and all(
        (directory / relative).read_bytes() == source.read_bytes()
        for relative, source in sources.items()
    )


@functools.cache
def function_code(name: str) -> Path:
    """Build ``build/assets/<name>/`` for the function ``functions/<name>/``.

    Built at most once per process, and left untouched when it already holds exactly the
    current sources, so that synths running side by side do not rewrite it under each
    other. The function's package may not exist yet; its directory is created empty then.
    """
    if name in SHARED_PACKAGES:
        raise ValueError(f"{name!r} is a shared package, not a function")
    target = ASSETS_DIR / name
    ASSETS_DIR.mkdir(parents=True, exist_ok=True)
    with _build_lock():
        sources = _function_sources(name)
        if _holds_exactly(target, sources):
            return target
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=ASSETS_DIR))
        staging.chmod(0o755)  # mkdtemp's 0700 would travel into the asset
        try:
            for relative, source in sources.items():
                (staging / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, staging / relative)
            (staging / "functions" / name).mkdir(parents=True, exist_ok=True)
            _compile(staging, strict=True)
            _replace_dir(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _locked_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for line in REQUIREMENTS_LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        pins = [spec.version for spec in requirement.specifier if spec.operator == "=="]
        if len(pins) != 1:
            raise LayerBuildError(f"requirements.lock: {line!r} is not pinned with ==")
        versions[canonicalize_name(requirement.name)] = pins[0]
    return versions


def runtime_requirements() -> list[str]:
    """``[project.dependencies]``, each pinned to its version in ``requirements.lock``."""
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    locked = _locked_versions()
    pinned = []
    for line in declared:
        requirement = Requirement(line)
        version = locked.get(canonicalize_name(requirement.name))
        if version is None:
            raise LayerBuildError(f"{requirement.name} is a dependency, not in requirements.lock")
        if not requirement.specifier.contains(version, prereleases=True):
            raise LayerBuildError(
                f"requirements.lock pins {requirement.name}=={version}, "
                f"outside pyproject.toml's {requirement.specifier}"
            )
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        pinned.append(f"{requirement.name}{extras}=={version}")
    return pinned


def _layer_key(requirements: list[str]) -> str:
    digest = hashlib.sha256()
    for part in (
        REQUIREMENTS_LOCK.read_bytes(),
        PYPROJECT.read_bytes(),
        "\n".join(requirements).encode(),
        "\n".join(_PIP_PLATFORM_ARGS).encode(),
        bytecode_tag().encode(),
    ):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def _pip_install(requirements: list[str], target: Path, workdir: Path) -> None:
    requirements_file = workdir / "requirements.txt"
    requirements_file.write_text("\n".join(requirements) + "\n")
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-input",
        "--no-compile",
        "--target",
        str(target),
        *_PIP_PLATFORM_ARGS,
        "--requirement",
        str(requirements_file),
        "--constraint",
        str(REQUIREMENTS_LOCK),
    ]
    # The command is built from constants and this repository's files; no shell.
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise LayerBuildError(
            "pip could not build the dependency layer in build/layer/ "
            f"(exit status {result.returncode}). Building it needs the package index and a "
            "wheel of every locked package for CPython 3.12 on manylinux2014 or "
            "manylinux_2_28 aarch64; once built, it is reused until requirements.lock or "
            "pyproject.toml changes.\n"
            f"command: {' '.join(command)}\n{result.stderr.strip() or result.stdout.strip()}"
        )


@functools.cache
def dependency_layer() -> DependencyLayer:
    """Build ``build/layer/python/``, or reuse it if its key still matches."""
    requirements = runtime_requirements()
    key = _layer_key(requirements)
    with _build_lock():
        built_key = _LAYER_KEY_FILE.read_text().strip() if _LAYER_KEY_FILE.exists() else None
        if built_key == key and (LAYER_DIR / "python").is_dir():
            return DependencyLayer(path=LAYER_DIR, key=key)
        workdir = Path(tempfile.mkdtemp(prefix=".layer-", dir=BUILD_DIR))
        try:
            layer = workdir / "layer"
            _pip_install(requirements, layer / "python", workdir)
            # Console scripts are of no use in a layer.
            shutil.rmtree(layer / "python" / "bin", ignore_errors=True)
            _compile(layer / "python", strict=False)
            _LAYER_KEY_FILE.unlink(missing_ok=True)
            _replace_dir(layer, LAYER_DIR)
            _LAYER_KEY_FILE.write_text(key + "\n")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return DependencyLayer(path=LAYER_DIR, key=key)
