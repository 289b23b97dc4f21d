"""Reading the synthesized template: resources by type, a function's role policies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Template

from infra import names


@dataclass(frozen=True)
class Synthesized:
    outdir: Path
    template: Template
    resources: dict[str, dict[str, Any]]

    def properties(self, logical_id: str) -> dict[str, Any]:
        return self.resources[logical_id]["Properties"]

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if resource["Type"] == resource_type
        }

    def function(self, function: str) -> dict[str, Any]:
        return self.properties(names.FUNCTION_LOGICAL_IDS[function])

    def role_id(self, function: str) -> str:
        return self.function(function)["Role"]["Fn::GetAtt"][0]

    def role_statements(self, function: str) -> list[dict[str, Any]]:
        """The statements of every inline policy attached to a function's role."""
        return self.statements_of_role(self.role_id(function))

    def statements_of_role(self, role_id: str) -> list[dict[str, Any]]:
        """The statements of every inline policy attached to the role ``role_id``."""
        role = {"Ref": role_id}
        return [
            statement
            for policy in self.of_type("AWS::IAM::Policy").values()
            if role in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        ]


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def resources_of(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def get_att(logical_id: str, attribute: str = "Arn") -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def granted(synthesized: Synthesized, function: str, prefix: str) -> dict[str, list[Any]]:
    """action -> resources, for one service's actions in the function's role."""
    found: dict[str, list[Any]] = {}
    for statement in synthesized.role_statements(function):
        assert statement["Effect"] == "Allow"
        for action in actions_of(statement):
            if action.startswith(prefix):
                found.setdefault(action, []).extend(resources_of(statement))
    return found


def as_set(resources: list[Any]) -> set[str]:
    """Resources compared regardless of their order (intrinsic functions as JSON)."""
    return {json.dumps(resource, sort_keys=True) for resource in resources}


def index(table: dict[str, Any], name: str) -> dict[str, Any]:
    """The ARN of a table's index, as the stack writes it from the table's ``Arn``."""
    return {"Fn::Join": ["", [table, f"/index/{name}"]]}


def scheduler_role_grants(synthesized: Synthesized, role_id: str) -> list[tuple[str, str]]:
    """The (action, resource as JSON) pairs the schedules' role ``role_id`` is allowed,
    sorted; only EventBridge Scheduler may assume the role, and it has no managed policy."""
    role = synthesized.properties(role_id)
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert "ManagedPolicyArns" not in role
    return sorted(
        (action, json.dumps(resource, sort_keys=True))
        for statement in synthesized.statements_of_role(role_id)
        for action in actions_of(statement)
        for resource in resources_of(statement)
    )


def protected_queue(synthesized: Synthesized, queue: str) -> dict[str, Any]:
    """The properties of the queue ``queue`` (``infra.queues.retained_queue``), after
    checking that it is encrypted with SQS managed keys, retained when the stack is
    deleted, and has exactly one queue policy, which denies requests not over TLS."""
    resource = synthesized.resources[queue]
    (policy,) = [
        policy["Properties"]
        for policy in synthesized.of_type("AWS::SQS::QueuePolicy").values()
        if policy["Properties"]["Queues"] == [{"Ref": queue}]
    ]
    assert resource["Properties"]["SqsManagedSseEnabled"] is True
    assert resource["DeletionPolicy"] == "Retain"
    assert any(
        statement["Effect"] == "Deny"
        and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for statement in policy["PolicyDocument"]["Statement"]
    )
    return dict(resource["Properties"])
