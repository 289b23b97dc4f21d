"""The committed ``openapi.json`` is the document the code generates (``infra/openapi.py``),
valid OpenAPI 3.1, with the Error shape on every error and the authorization of each group
of routes. The routes themselves are checked against the template in
``tests/infra/test_openapi_routes.py``."""

from __future__ import annotations

import difflib
import json
from typing import Any

import pytest
from openapi_spec_validator import validate

from infra import names
from infra.openapi import DOCUMENT_PATH, build_document, error_statuses, handler_module, render

ERROR_REF = {"$ref": "#/components/schemas/Error"}


@pytest.fixture(scope="module")
def generated() -> str:
    return render(build_document())


@pytest.fixture(scope="module")
def document(generated: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(generated)
    return loaded


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_the_committed_document_is_what_the_code_generates(generated: str):
    committed = DOCUMENT_PATH.read_text() if DOCUMENT_PATH.exists() else ""
    if committed != generated:
        diff = "".join(
            list(
                difflib.unified_diff(
                    committed.splitlines(keepends=True),
                    generated.splitlines(keepends=True),
                    "openapi.json (committed)",
                    "openapi.json (from the code)",
                )
            )[:80]
        )
        pytest.fail(
            f"openapi.json differs from what the code generates: run make openapi\n{diff}",
            pytrace=False,
        )


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]):
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_error_a_function_gives_is_an_error_body(document: dict[str, Any]):
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400 or int(status) == 429:  # 429: API Gateway's throttling only
                continue
            schema = response["content"]["application/json"]["schema"]
            assert schema == ERROR_REF or ERROR_REF in schema.get("anyOf", []), (
                f"{method} {path} {status}"
            )


def test_invalid_requests_are_documented_as_400_not_powertools_422(document: dict[str, Any]):
    for method, path, operation in operations(document):
        assert "422" not in operation["responses"], f"{method} {path}"
        assert "400" in operation["responses"], f"{method} {path}"
        assert "500" in operation["responses"], f"{method} {path}"


@pytest.mark.parametrize("function", [names.API, names.CARD_UPDATED])
def test_the_error_codes_are_read_from_the_exception_handlers(function: str):
    statuses = error_statuses(handler_module(function))
    assert "invalid_request" in statuses[400]
    assert "unauthenticated" in statuses[401]
    assert {"account_not_found", "not_found"} <= set(statuses[404])
    assert statuses[500] == ["internal_error"]
    assert statuses[503] == ["unavailable"]


def test_each_group_of_routes_has_its_authorization(document: dict[str, Any]):
    schemes = document["components"]["securitySchemes"]
    assert schemes["contractor"]["scheme"] == "bearer"
    assert schemes["operator"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    for method, path, operation in operations(document):
        if path.startswith("/me/"):
            assert operation["security"] == [{"contractor": [names.CONTRACTOR_SCOPE]}], path
            assert "401" in operation["responses"], f"{method} {path}"
        elif path.startswith("/admin/"):
            assert operation["security"] == [{"operator": []}], path
            assert "403" in operation["responses"], f"{method} {path}"
        else:
            assert path == "/webhooks/stripe"
            assert operation["security"] == []


def test_the_servers_are_the_deployed_stage_and_the_local_stack(document: dict[str, Any]):
    urls = [server["url"] for server in document["servers"]]
    assert urls == [
        "https://{restApiId}.execute-api.{region}.amazonaws.com/{stage}",
        "http://127.0.0.1:3000",
    ]
