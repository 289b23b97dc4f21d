"""The synthesized CloudFormation template, and a resolver of its intrinsic functions.

Everything the local stack runs is derived from the template ``cdk.out/<Stack>.template.json``
so that local runs use the names, wiring and settings that production uses. The resolver
knows the local value of every resource it has been told about (``register``) and fails
loudly on anything else: a value the stack cannot resolve must not silently become a
wrong string in a function's environment.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
DEFAULT_STACK = "LeadBilling"


class TemplateError(Exception):
    """The template asks for something the local stack cannot do faithfully."""


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()


@dataclass(frozen=True)
class Template:
    path: Path
    stack_name: str
    body: Mapping[str, Any]

    @classmethod
    def load(cls, path: Path, stack_name: str | None = None) -> Template:
        body = json.loads(path.read_text())
        if not isinstance(body, dict) or not isinstance(body.get("Resources"), dict):
            raise TemplateError(f"{path} is not a CloudFormation template (no Resources)")
        name = stack_name or path.name.split(".template.json")[0].split(".json")[0]
        return cls(path=path, stack_name=name, body=body)

    @property
    def resources(self) -> Mapping[str, Mapping[str, Any]]:
        resources: Mapping[str, Mapping[str, Any]] = self.body["Resources"]
        return resources

    def of_type(self, *types: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
        for logical_id, resource in self.resources.items():
            if resource.get("Type") in types:
                yield logical_id, resource

    def properties(self, logical_id: str) -> Mapping[str, Any]:
        return self.resources[logical_id].get("Properties") or {}

    def type_of(self, logical_id: str) -> str:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise TemplateError(f"no resource {logical_id!r} in {self.path.name}")
        return str(resource.get("Type"))


def friendly_name(logical_id: str, resource: Mapping[str, Any] | None = None) -> str:
    """A short name for a resource: its construct id from the CDK path when there is one,
    else the logical id without CDK's 8-hex-digit hash suffix."""
    path = ((resource or {}).get("Metadata") or {}).get("aws:cdk:path")
    if isinstance(path, str):
        parts = [p for p in path.split("/")[1:] if p not in ("Resource", "Default")]
        if parts:
            return parts[-1]
    match = re.fullmatch(r"(.+?)[0-9A-F]{8}", logical_id)
    return match.group(1) if match else logical_id


def physical_name(stack_name: str, logical_id: str, limit: int = 255) -> str:
    """The name CloudFormation would generate, made deterministic: ``<Stack>-<LogicalId>``."""
    name = f"{stack_name}-{logical_id}"
    return name[:limit]


# ---------------------------------------------------------------------------- synth


def _newest_mtime(paths: list[Path]) -> float:
    newest = 0.0
    for root in paths:
        if root.is_file():
            newest = max(newest, root.stat().st_mtime)
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for filename in filenames:
                if filename.endswith(".py"):
                    newest = max(newest, (Path(dirpath) / filename).stat().st_mtime)
    return newest


def template_is_stale(template_path: Path, sources: list[Path]) -> bool:
    if not template_path.exists():
        return True
    return _newest_mtime(sources) > template_path.stat().st_mtime


def ensure_synthesized(root: Path, stack_name: str = DEFAULT_STACK) -> Path:
    """Run ``python -m infra.app`` when the template is missing or older than its sources."""
    template_path = root / "cdk.out" / f"{stack_name}.template.json"
    sources = [root / "infra", root / "functions"]
    if not template_is_stale(template_path, sources):
        return template_path
    if not (root / "infra" / "app.py").exists():
        raise TemplateError(
            f"{template_path} is missing and there is no infra/app.py to synthesize it from"
        )
    print(f"local: synthesizing {template_path.relative_to(root)} ...", file=sys.stderr)
    env = {
        **os.environ,
        "PYTHONPATH": str(root),
        "CDK_OUTDIR": str(root / "cdk.out"),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    completed = subprocess.run([sys.executable, "-m", "infra.app"], cwd=root, env=env, check=False)
    if completed.returncode != 0 or not template_path.exists():
        raise TemplateError(f"synth failed (exit {completed.returncode}); see the output above")
    return template_path


# ---------------------------------------------------------------------------- resolver


class Resolver:
    """Resolves Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::Split, Fn::If and the
    condition functions against the local values registered for each resource."""

    def __init__(
        self, template: Template, region: str = REGION, account_id: str = ACCOUNT_ID
    ) -> None:
        self.template = template
        self.region = region
        self.account_id = account_id
        self._refs: dict[str, Any] = {}
        self._attributes: dict[str, dict[str, Any]] = {}
        self._pseudo: dict[str, Any] = {
            "AWS::Region": region,
            "AWS::AccountId": account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": template.stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{region}:{account_id}:stack/{template.stack_name}/local"
            ),
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }

    def register(self, logical_id: str, ref: Any, **attributes: Any) -> None:
        self._refs[logical_id] = ref
        self._attributes.setdefault(logical_id, {}).update(attributes)

    def ref(self, logical_id: str, where: str = "?") -> Any:
        return self.resolve({"Ref": logical_id}, where)

    def attribute(self, logical_id: str, name: str, where: str = "?") -> Any:
        return self.resolve({"Fn::GetAtt": [logical_id, name]}, where)

    def resolve(self, value: Any, where: str) -> Any:
        if isinstance(value, list):
            items = [self.resolve(item, f"{where}[{i}]") for i, item in enumerate(value)]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self._resolve_ref(argument, where)
            if key == "Condition" and isinstance(argument, str):
                return self._condition(argument, where)
            if key.startswith("Fn::"):
                return self._resolve_function(key, argument, where)
        resolved = {k: self.resolve(v, f"{where}.{k}") for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _resolve_ref(self, name: Any, where: str) -> Any:
        if not isinstance(name, str):
            raise TemplateError(f"{where}: Ref of a non-string {name!r}")
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self._refs:
            return self._refs[name]
        parameters = self.template.body.get("Parameters") or {}
        if name in parameters:
            return self._parameter(name, parameters[name], where)
        if name in self.template.resources:
            raise TemplateError(
                f"{where}: cannot resolve Ref {name} "
                f"({self.template.type_of(name)} has no local counterpart)"
            )
        raise TemplateError(f"{where}: Ref to unknown {name!r}")

    @staticmethod
    def _parameter(name: str, parameter: Mapping[str, Any], where: str) -> Any:
        """A stack parameter takes its default locally, as a deployment that does not set
        it does."""
        kind = str(parameter.get("Type", "String"))
        if kind.startswith("AWS::SSM::Parameter::"):
            # Its default names an SSM parameter; the value is that parameter's.
            raise TemplateError(f"{where}: parameter {name} is read from SSM ({kind})")
        if "Default" not in parameter:
            raise TemplateError(f"{where}: parameter {name} has no default")
        default = parameter["Default"]
        if kind == "CommaDelimitedList" or kind.startswith("List<"):
            return [item.strip() for item in str(default).split(",")]
        return default

    def _get_att(self, logical_id: str, attribute: str, where: str) -> Any:
        attributes = self._attributes.get(logical_id)
        if attributes is not None and attribute in attributes:
            return attributes[attribute]
        if logical_id in self.template.resources:
            kind = self.template.type_of(logical_id)
            raise TemplateError(
                f"{where}: cannot resolve Fn::GetAtt {logical_id}.{attribute} ({kind})"
            )
        raise TemplateError(f"{where}: Fn::GetAtt of unknown resource {logical_id!r}")

    def _resolve_function(self, name: str, argument: Any, where: str) -> Any:
        here = f"{where}.{name}"
        if name == "Fn::GetAtt":
            if isinstance(argument, str):
                argument = argument.split(".", 1)
            logical_id, attribute = (self.resolve(part, here) for part in argument)
            return self._get_att(str(logical_id), str(attribute), here)
        if name == "Fn::Join":
            delimiter, items = argument
            parts = self.resolve(items, here)
            return str(delimiter).join(self._string(part, here) for part in parts)
        if name == "Fn::Sub":
            return self._sub(argument, here)
        if name == "Fn::Select":
            index, items = self.resolve(argument, here)
            return items[int(index)]
        if name == "Fn::Split":
            delimiter, source = self.resolve(argument, here)
            return str(source).split(str(delimiter))
        if name == "Fn::If":
            condition, when_true, when_false = argument
            chosen = when_true if self._condition(condition, here) else when_false
            return self.resolve(chosen, here)
        if name == "Fn::Equals":
            left, right = self.resolve(argument, here)
            return left == right
        if name == "Fn::Not":
            return not self._truth(argument[0], here)
        if name == "Fn::And":
            return all(self._truth(item, here) for item in argument)
        if name == "Fn::Or":
            return any(self._truth(item, here) for item in argument)
        if name == "Fn::GetAZs":
            return [f"{self.region}{zone}" for zone in "abc"]
        if name == "Fn::ToJsonString":
            return json.dumps(self.resolve(argument, here), separators=(",", ":"))
        raise TemplateError(f"{where}: cannot resolve {name} locally")

    def _truth(self, value: Any, where: str) -> bool:
        if isinstance(value, dict) and set(value) == {"Condition"}:
            return self._condition(value["Condition"], where)
        return bool(self.resolve(value, where))

    def _condition(self, name: str, where: str) -> bool:
        conditions = self.template.body.get("Conditions") or {}
        if name not in conditions:
            raise TemplateError(f"{where}: unknown condition {name!r}")
        return bool(self.resolve(conditions[name], f"Conditions.{name}"))

    def _sub(self, argument: Any, where: str) -> str:
        if isinstance(argument, str):
            text, variables = argument, {}
        else:
            text, variables = argument[0], self.resolve(argument[1], where)

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in variables:
                return self._string(variables[expression], where)
            if "." in expression and expression.split(".", 1)[0] in self.template.resources:
                logical_id, attribute = expression.split(".", 1)
                return self._string(self._get_att(logical_id, attribute, where), where)
            return self._string(self._resolve_ref(expression, where), where)

        return re.sub(r"\$\{([^}]*)\}", replace, text)

    @staticmethod
    def _string(value: Any, where: str) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float):
            return str(value)
        raise TemplateError(f"{where}: expected a string, got {value!r}")

    def string(self, value: Any, where: str) -> str:
        """Resolve to a string (an environment variable, an ARN, a name)."""
        return self._string(self.resolve(value, where), where)
