"""The API's routes in the synthesized template are exactly the operations of the OpenAPI
document (``infra/openapi.py``), each served by the function whose code declares it and
authorized as the document says."""

from __future__ import annotations

from typing import Any

import pytest

from infra import names
from infra.openapi import API_FUNCTIONS, build_document
from tests.infra.support import Synthesized

AUTHORIZATION = {
    # the document's security requirement -> the template's AuthorizationType and scopes
    "contractor": ("COGNITO_USER_POOLS", [names.CONTRACTOR_SCOPE]),
    "operator": ("AWS_IAM", []),
    None: ("NONE", []),
}


def _path(resources: dict[str, dict[str, Any]], resource_id: Any) -> str:
    if isinstance(resource_id, dict) and "Fn::GetAtt" in resource_id:
        return ""  # the REST API's root resource
    properties = resources[resource_id["Ref"]]["Properties"]
    return f"{_path(resources, properties['ParentId'])}/{properties['PathPart']}"


def _function(method: dict[str, Any]) -> str:
    uri = method["Properties"]["Integration"]["Uri"]["Fn::Join"][1]
    logical_ids = [part["Fn::GetAtt"][0] for part in uri if "Fn::GetAtt" in part]
    by_logical_id = {logical_id: name for name, logical_id in names.FUNCTION_LOGICAL_IDS.items()}
    return next(by_logical_id[lid] for lid in logical_ids if lid in by_logical_id)


@pytest.fixture(scope="module")
def template_routes(synthesized: Synthesized) -> dict[tuple[str, str], tuple[str, str, list[str]]]:
    routes = {}
    for method in synthesized.of_type("AWS::ApiGateway::Method").values():
        properties = method["Properties"]
        if properties["HttpMethod"] == "OPTIONS":
            continue  # CORS preflight, answered by API Gateway
        key = (properties["HttpMethod"], _path(synthesized.resources, properties["ResourceId"]))
        routes[key] = (
            _function(method),
            properties.get("AuthorizationType", "NONE"),
            properties.get("AuthorizationScopes", []),
        )
    return routes


@pytest.fixture(scope="module")
def document_routes() -> dict[tuple[str, str], tuple[str, str, list[str]]]:
    routes = {}
    for path, item in build_document()["paths"].items():
        for method, operation in item.items():
            scheme = next(iter(operation["security"][0]), None) if operation["security"] else None
            authorization, scopes = AUTHORIZATION[scheme]
            routes[(method.upper(), path)] = (operation["x-function"], authorization, scopes)
    return routes


def test_every_route_of_the_template_is_documented_and_nothing_more(
    template_routes, document_routes
):
    missing = sorted(set(template_routes) - set(document_routes))
    extra = sorted(set(document_routes) - set(template_routes))
    assert not missing, f"routes of the template that no function declares: {missing}"
    assert not extra, f"operations of the document that the template does not route: {extra}"


def test_each_route_reaches_the_function_that_declares_it_with_the_documented_authorization(
    template_routes, document_routes
):
    for route in set(template_routes) & set(document_routes):
        assert template_routes[route] == document_routes[route], route


def test_the_api_functions_are_the_ones_the_template_routes_to(template_routes):
    assert {function for function, _, _ in template_routes.values()} == set(API_FUNCTIONS)
