"""The operator API: IAM-authorized routes proxied to the api function, logged, throttled."""

from __future__ import annotations

from typing import Any

import pytest

from infra import names
from tests.infra.support import Synthesized, get_att


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
def methods(synthesized: Synthesized) -> list[dict[str, Any]]:
    return [
        method["Properties"] for method in synthesized.of_type("AWS::ApiGateway::Method").values()
    ]


def test_operator_routes(synthesized: Synthesized, methods: list[dict[str, Any]]) -> None:
    paths = _paths(synthesized)

    assert {(method["HttpMethod"], paths[method["ResourceId"]["Ref"]]) for method in methods} == {
        ("POST", "/admin/accounts"),
        ("GET", "/admin/accounts/{contractor_id}"),
    }


def test_every_method_is_authorized_by_iam(methods: list[dict[str, Any]]) -> None:
    assert methods
    assert [method["AuthorizationType"] for method in methods] == ["AWS_IAM"] * len(methods)


def test_every_method_is_proxied_to_the_api_function(methods: list[dict[str, Any]]) -> None:
    api_function = get_att(names.FUNCTION_LOGICAL_IDS[names.API])

    for method in methods:
        assert method["Integration"]["Type"] == "AWS_PROXY"
        assert api_function in method["Integration"]["Uri"]["Fn::Join"][1]


def test_the_stage_logs_access_traces_and_throttles(synthesized: Synthesized) -> None:
    (stage,) = [
        stage["Properties"] for stage in synthesized.of_type("AWS::ApiGateway::Stage").values()
    ]
    log_group = stage["AccessLogSetting"]["DestinationArn"]["Fn::GetAtt"][0]

    assert stage["RestApiId"] == {"Ref": names.OPERATOR_API_LOGICAL_ID}
    assert synthesized.resources[log_group]["Type"] == "AWS::Logs::LogGroup"
    assert stage["TracingEnabled"] is True
    assert stage["MethodSettings"] == [
        {
            "DataTraceEnabled": False,
            "HttpMethod": "*",
            "ResourcePath": "/*",
            "ThrottlingBurstLimit": 100,
            "ThrottlingRateLimit": 50,
        }
    ]


def test_the_api_is_regional(synthesized: Synthesized) -> None:
    api = synthesized.properties(names.OPERATOR_API_LOGICAL_ID)

    assert api["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
