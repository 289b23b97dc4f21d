"""The REST API: operator routes authorized by IAM and proxied to the api function,
contractor routes authorized by the contractors' user pool with the billing/contractor
scope, Stripe's webhook open to Stripe and proxied to card_updated; logged and throttled."""

from __future__ import annotations

import re
from typing import Any

import pytest

from infra import names
from tests.infra.support import Synthesized, get_att

OPERATOR_ROUTES = {
    ("POST", "/admin/accounts"),
    ("GET", "/admin/accounts/{contractor_id}"),
    ("GET", "/admin/accounts/{contractor_id}/invoices"),
    ("GET", "/admin/invoices/{invoice_id}"),
    ("PATCH", "/admin/accounts/{contractor_id}"),
    ("GET", "/admin/accounts/{contractor_id}/ledger"),
    ("POST", "/admin/leads/{lead_id}/credit"),
}
# R11: the card flow, and paying what is past due with the card on file.
CARD_ROUTES = {
    ("POST", "/me/card/setup-intent"),
    ("POST", "/me/card/confirm"),
    ("POST", "/me/pay"),
}
# R8, R13: the contractor's billing state and budget, answered by the api function.
BILLING_ROUTES = {
    ("GET", "/me/billing"),
    ("PUT", "/me/budget"),
    ("GET", "/me/invoices"),
    ("GET", "/me/invoices/{invoice_id}"),
    ("GET", "/me/invoices/{invoice_id}/pdf"),
    ("GET", "/me/ledger"),
}
CONTRACTOR_ROUTES = CARD_ROUTES | BILLING_ROUTES
WEBHOOK_ROUTE = ("POST", "/webhooks/stripe")


def _paths(synthesized: Synthesized) -> dict[str, str]:
    """Resource logical id -> its path, from the PathPart/ParentId chain."""
    resources = synthesized.of_type("AWS::ApiGateway::Resource")

    def path_of(logical_id: str) -> str:
        properties = resources[logical_id]["Properties"]
        parent = properties["ParentId"]
        prefix = "" if "Fn::GetAtt" in parent else path_of(parent["Ref"])
        return f"{prefix}/{properties['PathPart']}"

    return {logical_id: path_of(logical_id) for logical_id in resources}


@pytest.fixture(scope="module")
def methods(synthesized: Synthesized) -> dict[tuple[str, str], dict[str, Any]]:
    """(HTTP method, path) -> the method's properties."""
    paths = _paths(synthesized)
    found = {}
    for method in synthesized.of_type("AWS::ApiGateway::Method").values():
        properties = method["Properties"]
        route = (properties["HttpMethod"], paths[properties["ResourceId"]["Ref"]])
        assert route not in found
        found[route] = properties
    return found


def _proxied_to(method: dict[str, Any], function: str) -> bool:
    integration = method["Integration"]
    return (
        integration["Type"] == "AWS_PROXY"
        and get_att(names.FUNCTION_LOGICAL_IDS[function]) in (integration["Uri"]["Fn::Join"][1])
    )


def test_the_api_has_the_operator_and_contractor_routes_and_the_webhook(
    methods: dict[tuple[str, str], dict[str, Any]],
) -> None:
    assert set(methods) == OPERATOR_ROUTES | CONTRACTOR_ROUTES | {WEBHOOK_ROUTE}


def test_every_admin_method_is_authorized_by_iam(
    methods: dict[tuple[str, str], dict[str, Any]],
) -> None:
    admin = {route: method for route, method in methods.items() if route[1].startswith("/admin")}

    assert set(admin) == OPERATOR_ROUTES
    for route, method in admin.items():
        assert method["AuthorizationType"] == "AWS_IAM", route
        assert "AuthorizerId" not in method, route
        assert "AuthorizationScopes" not in method, route
        assert "RequestValidatorId" in method, route


@pytest.mark.parametrize("route", sorted(OPERATOR_ROUTES))
def test_operator_routes_are_proxied_to_the_api_function(
    methods: dict[tuple[str, str], dict[str, Any]], route: tuple[str, str]
) -> None:
    assert _proxied_to(methods[route], names.API)


@pytest.mark.parametrize(
    ("route", "parameter"),
    [
        (("GET", "/admin/accounts/{contractor_id}"), "contractor_id"),
        (("GET", "/admin/accounts/{contractor_id}/invoices"), "contractor_id"),
        (("GET", "/admin/invoices/{invoice_id}"), "invoice_id"),
        (("PATCH", "/admin/accounts/{contractor_id}"), "contractor_id"),
        (("GET", "/admin/accounts/{contractor_id}/ledger"), "contractor_id"),
        (("POST", "/admin/leads/{lead_id}/credit"), "lead_id"),
    ],
)
def test_operator_routes_require_their_path_parameter(
    methods: dict[tuple[str, str], dict[str, Any]], route: tuple[str, str], parameter: str
) -> None:
    assert methods[route]["RequestParameters"] == {f"method.request.path.{parameter}": True}
    assert "RequestValidatorId" in methods[route]


def test_every_me_method_requires_a_contractor_access_token_with_the_billing_scope(
    methods: dict[tuple[str, str], dict[str, Any]],
) -> None:
    me = {route: method for route, method in methods.items() if route[1].startswith("/me")}

    assert set(me) == CONTRACTOR_ROUTES
    for route, method in me.items():
        assert method["AuthorizationType"] == "COGNITO_USER_POOLS", route
        assert method["AuthorizerId"] == {"Ref": names.CONTRACTOR_AUTHORIZER_LOGICAL_ID}, route
        assert method["AuthorizationScopes"] == ["billing/contractor"], route
        assert "RequestValidatorId" in method, route


@pytest.mark.parametrize("route", sorted(BILLING_ROUTES))
def test_the_contractors_billing_routes_are_proxied_to_the_api_function(
    methods: dict[tuple[str, str], dict[str, Any]], route: tuple[str, str]
) -> None:
    assert _proxied_to(methods[route], names.API)


@pytest.mark.parametrize("route", sorted([*CARD_ROUTES, WEBHOOK_ROUTE]))
def test_card_and_webhook_routes_are_proxied_to_card_updated(
    methods: dict[tuple[str, str], dict[str, Any]], route: tuple[str, str]
) -> None:
    assert _proxied_to(methods[route], names.CARD_UPDATED)


def test_the_contractor_authorizer_trusts_the_contractors_user_pool_only(
    synthesized: Synthesized,
) -> None:
    (logical_id,) = synthesized.of_type("AWS::ApiGateway::Authorizer")
    authorizer = synthesized.properties(logical_id)

    assert logical_id == names.CONTRACTOR_AUTHORIZER_LOGICAL_ID
    assert authorizer["Type"] == "COGNITO_USER_POOLS"
    assert authorizer["ProviderARNs"] == [get_att(names.CONTRACTOR_USER_POOL_LOGICAL_ID)]
    assert authorizer["IdentitySource"] == "method.request.header.Authorization"
    assert authorizer["RestApiId"] == {"Ref": names.OPERATOR_API_LOGICAL_ID}


def test_the_webhook_takes_no_token_since_stripe_signs_its_body(
    methods: dict[tuple[str, str], dict[str, Any]],
) -> None:
    webhook = methods[WEBHOOK_ROUTE]

    assert webhook["AuthorizationType"] == "NONE"
    assert "AuthorizerId" not in webhook
    # The body reaches the function as Stripe sent it, for its signature to verify.
    assert "RequestValidatorId" not in webhook
    assert "RequestModels" not in webhook


def test_only_the_webhook_is_open_without_authorization(
    methods: dict[tuple[str, str], dict[str, Any]],
) -> None:
    assert [
        route for route, method in methods.items() if method["AuthorizationType"] == "NONE"
    ] == [WEBHOOK_ROUTE]


def test_the_stage_logs_access_traces_and_throttles_money_and_the_webhook_further(
    synthesized: Synthesized,
) -> None:
    (stage,) = [
        stage["Properties"] for stage in synthesized.of_type("AWS::ApiGateway::Stage").values()
    ]
    log_group = stage["AccessLogSetting"]["DestinationArn"]["Fn::GetAtt"][0]

    assert stage["RestApiId"] == {"Ref": names.OPERATOR_API_LOGICAL_ID}
    assert synthesized.resources[log_group]["Type"] == "AWS::Logs::LogGroup"
    assert stage["TracingEnabled"] is True
    assert sorted(stage["MethodSettings"], key=lambda setting: setting["ResourcePath"]) == [
        {
            "DataTraceEnabled": False,
            "HttpMethod": "*",
            "ResourcePath": "/*",
            "ThrottlingBurstLimit": 100,
            "ThrottlingRateLimit": 50,
        },
        *(
            {
                "DataTraceEnabled": False,
                "HttpMethod": "POST",
                "ResourcePath": path,
                "ThrottlingBurstLimit": 10,
                "ThrottlingRateLimit": 5,
            }
            for path in ("/~1me~1card~1confirm", "/~1me~1card~1setup-intent", "/~1me~1pay")
        ),
        {
            "DataTraceEnabled": False,
            "HttpMethod": "POST",
            "ResourcePath": "/~1webhooks~1stripe",
            "ThrottlingBurstLimit": 40,
            "ThrottlingRateLimit": 20,
        },
    ]


def test_money_moving_routes_are_throttled_below_the_reads_and_every_route_is_throttled(
    synthesized: Synthesized, methods: dict[tuple[str, str], dict[str, Any]]
) -> None:
    (stage,) = [
        stage["Properties"] for stage in synthesized.of_type("AWS::ApiGateway::Stage").values()
    ]
    # A setting's ResourcePath is "/" and the resource's path with "/" escaped as "~1".
    limits = {
        (setting["HttpMethod"], setting["ResourcePath"][1:].replace("~1", "/")): (
            setting["ThrottlingRateLimit"],
            setting["ThrottlingBurstLimit"],
        )
        for setting in stage["MethodSettings"]
    }
    stage_default = limits.pop(("*", "*"))

    # Every method falls under the stage default; each override names a method of the API.
    assert set(limits) <= set(methods)
    # R11: paying and saving a card reach Stripe; they get a tenth of the stage's rate.
    for route in CARD_ROUTES:
        rate, burst = limits[route]
        assert rate * 10 == stage_default[0]
        assert burst * 10 == stage_default[1]
    # The other contractor routes and the operator routes take the stage default.
    for route in BILLING_ROUTES | OPERATOR_ROUTES:
        assert route not in limits


def test_the_api_is_regional(synthesized: Synthesized) -> None:
    api = synthesized.properties(names.OPERATOR_API_LOGICAL_ID)

    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}


@pytest.mark.parametrize(
    ("route", "function"),
    [
        *((route, names.API) for route in sorted([*OPERATOR_ROUTES, *BILLING_ROUTES])),
        *((route, names.CARD_UPDATED) for route in sorted([*CARD_ROUTES, WEBHOOK_ROUTE])),
    ],
)
def test_api_gateway_may_invoke_each_routes_function_from_that_route_on_the_stage(
    synthesized: Synthesized, route: tuple[str, str], function: str
) -> None:
    method, path = route
    (stage,) = synthesized.of_type("AWS::ApiGateway::Stage")
    sources = [
        permission["Properties"]["SourceArn"]["Fn::Join"][1][-2:]
        for permission in synthesized.of_type("AWS::Lambda::Permission").values()
        if permission["Properties"]["FunctionName"] == get_att(names.FUNCTION_LOGICAL_IDS[function])
        and permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]

    assert [{"Ref": stage}, f"/{method}{re.sub(r'{[^}]+}', '*', path)}"] in sources


def test_api_gateway_refusals_answer_an_error_code_and_a_message(synthesized: Synthesized):
    """API Gateway's own 401/403/429/4XX/5XX bodies are JSON like the functions' errors:
    ``{"error": <code>, "message": <API Gateway's message>}``."""
    responses = {
        resource["Properties"]["ResponseType"]: resource["Properties"]
        for resource in synthesized.of_type("AWS::ApiGateway::GatewayResponse").values()
    }
    expected = {
        "UNAUTHORIZED": "unauthorized",
        "ACCESS_DENIED": "forbidden",
        "MISSING_AUTHENTICATION_TOKEN": "missing_authentication_token",
        "THROTTLED": "throttled",
        "DEFAULT_4XX": "request_refused",
        "DEFAULT_5XX": "gateway_error",
    }
    assert set(responses) == set(expected)
    for response_type, code in expected.items():
        properties = responses[response_type]
        assert properties["RestApiId"] == {"Ref": names.OPERATOR_API_LOGICAL_ID}
        assert properties["ResponseTemplates"] == {
            "application/json": (f'{{"error": "{code}", "message": $context.error.messageString}}')
        }


def test_the_openapi_document_lists_the_gateway_error_codes():
    from infra.api import GATEWAY_RESPONSES
    from infra.openapi import GATEWAY_ERROR_SCHEMA

    documented = GATEWAY_ERROR_SCHEMA["properties"]["error"]["enum"]
    assert documented == [code for _, code in GATEWAY_RESPONSES]
