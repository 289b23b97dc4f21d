"""The dependency layer is the lock's packages, built once per lock, or the synth fails."""

from __future__ import annotations

import tomllib
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra import assets


@pytest.fixture
def build_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private build directory, so that the shared build/layer/ is left alone."""
    monkeypatch.setattr(assets, "BUILD_DIR", tmp_path)
    monkeypatch.setattr(assets, "LAYER_DIR", tmp_path / "layer")
    monkeypatch.setattr(assets, "_LAYER_KEY_FILE", tmp_path / "layer.key")
    monkeypatch.setattr(assets, "_BUILD_LOCK_FILE", tmp_path / ".build.lock")
    assets.dependency_layer.cache_clear()
    yield tmp_path
    assets.dependency_layer.cache_clear()


def test_runtime_requirements_are_the_project_dependencies_at_their_locked_versions() -> None:
    declared = tomllib.loads(assets.PYPROJECT.read_text())["project"]["dependencies"]
    locked = {
        canonicalize_name(name): version
        for name, version in (
            line.split("==") for line in assets.REQUIREMENTS_LOCK.read_text().split()
        )
    }

    pinned = [Requirement(line) for line in assets.runtime_requirements()]

    assert [r.name for r in pinned] == [Requirement(line).name for line in declared]
    for requirement in pinned:
        assert str(requirement.specifier) == f"=={locked[canonicalize_name(requirement.name)]}"
    assert {"tracer"} in [r.extras for r in pinned if r.name == "aws-lambda-powertools"]


def test_a_layer_built_for_the_current_lock_is_reused_without_pip(
    build_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = assets._layer_key(assets.runtime_requirements())
    (build_dir / "layer" / "python").mkdir(parents=True)
    (build_dir / "layer.key").write_text(key + "\n")

    def no_pip(*args: object) -> None:
        raise AssertionError("pip ran although the layer was up to date")

    monkeypatch.setattr(assets, "_pip_install", no_pip)

    assert assets.dependency_layer() == assets.DependencyLayer(path=build_dir / "layer", key=key)


def test_a_layer_that_cannot_be_built_fails_loudly_and_is_never_reused(
    build_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = build_dir / "no-wheels"
    empty.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty))
    (build_dir / "layer" / "python").mkdir(parents=True)
    (build_dir / "layer.key").write_text("built for another lock\n")

    with pytest.raises(assets.LayerBuildError, match="pip could not build the dependency layer"):
        assets.dependency_layer()

    assert (build_dir / "layer.key").read_text() == "built for another lock\n"
    with pytest.raises(assets.LayerBuildError):
        assets.dependency_layer()


@pytest.fixture
def functions_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A functions/ package of a few files, with caches and stray files beside the code."""
    root = tmp_path / "functions"
    for relative in (
        "__init__.py",
        "billing/__init__.py",
        "billing/money.py",
        "billing/__pycache__/money.cpython-311.pyc",
        "billing/NOTES.md",
        "adapters/__init__.py",
        "adapters/invoice_email.py",
        "adapters/templates/invoice.en.j2",
        "adapters/templates/invoice_email.html.j2",
        "adapters/templates/__pycache__/stale.j2",
        "adapters/templates/preview.html",
        "weekly_invoice/__init__.py",
        "weekly_invoice/handler.py",
        "weekly_invoice/__pycache__/handler.cpython-311.pyc",
        "on_lead/__init__.py",
        "on_lead/handler.py",
    ):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(f"# {relative}\n")
    monkeypatch.setattr(assets, "FUNCTIONS_DIR", root)
    monkeypatch.setattr(assets, "ASSETS_DIR", tmp_path / "build" / "assets")
    monkeypatch.setattr(assets, "BUILD_DIR", tmp_path / "build")
    monkeypatch.setattr(assets, "_BUILD_LOCK_FILE", tmp_path / "build" / ".build.lock")
    assets.function_code.cache_clear()
    yield root
    assets.function_code.cache_clear()


def test_function_code_is_the_modules_and_templates_of_its_package_and_the_shared_ones(
    functions_tree: Path,
) -> None:
    asset = assets.function_code("weekly_invoice")

    copied = {
        path.relative_to(asset)
        for path in asset.rglob("*")
        if path.is_file() and path.suffix != ".pyc"
    }
    assert copied == {
        Path("functions/__init__.py"),
        Path("functions/billing/__init__.py"),
        Path("functions/billing/money.py"),
        Path("functions/adapters/__init__.py"),
        Path("functions/adapters/invoice_email.py"),
        Path("functions/adapters/templates/invoice.en.j2"),
        Path("functions/adapters/templates/invoice_email.html.j2"),
        Path("functions/weekly_invoice/__init__.py"),
        Path("functions/weekly_invoice/handler.py"),
    }
    template = Path("functions/adapters/templates/invoice.en.j2")
    assert (asset / template).read_bytes() == (functions_tree.parent / template).read_bytes()


def test_the_invoice_email_templates_travel_with_every_function() -> None:
    templates = sorted((assets.FUNCTIONS_DIR / "adapters" / "templates").glob("*.j2"))
    expected = {Path("functions") / path.relative_to(assets.FUNCTIONS_DIR) for path in templates}

    sources = assets._function_sources("weekly_invoice")

    assert Path("functions/adapters/templates/invoice_email.html.j2") in expected
    assert expected <= set(sources)


def test_function_code_ships_hash_checked_bytecode_for_the_runtimes_python(
    functions_tree: Path,
) -> None:
    if assets.lambda_python() is None:
        pytest.skip(f"no Python {assets.LAYER_PYTHON_VERSION} on this machine")

    asset = assets.function_code("on_lead")

    modules = sorted(asset.rglob("*.py"))
    compiled = sorted(asset.rglob("*.pyc"))
    tag = f"cpython-{assets.LAYER_PYTHON_VERSION.replace('.', '')}"
    assert [path.parent / "__pycache__" / f"{path.stem}.{tag}.pyc" for path in modules] == compiled
    # PEP 552 flags: hash-based (bit 0) and checked against the source (bit 1), so that
    # Lambda uses the bytecode whatever the files' times after zipping, and only while it
    # matches the source beside it.
    assert all(int.from_bytes(path.read_bytes()[4:8], "little") == 0b11 for path in compiled)


def test_without_the_runtimes_python_function_code_is_source_only(
    functions_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(assets, "lambda_python", lambda: None)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the synth's warning that it ships none
        asset = assets.function_code("on_lead")

    assert list(asset.rglob("*.pyc")) == []
    assert assets.bytecode_tag() == "source"
