"""The contractors' user pool: users created by operators under their contractor id, a
strong password policy and threat protection, kept when the stack goes; one public app
client for the Pro App and the Lead Manager, and the billing/contractor scope the
contractor routes require."""

from __future__ import annotations

from typing import Any

import pytest

from infra import names
from tests.infra.support import Synthesized


@pytest.fixture(scope="module")
def pool(synthesized: Synthesized) -> dict[str, Any]:
    (logical_id,) = synthesized.of_type("AWS::Cognito::UserPool")
    assert logical_id == names.CONTRACTOR_USER_POOL_LOGICAL_ID
    return synthesized.resources[logical_id]


@pytest.fixture(scope="module")
def client(synthesized: Synthesized) -> dict[str, Any]:
    (logical_id,) = synthesized.of_type("AWS::Cognito::UserPoolClient")
    assert logical_id == names.CONTRACTOR_APP_CLIENT_LOGICAL_ID
    return synthesized.properties(logical_id)


def test_only_operators_create_contractors_users(pool: dict[str, Any]) -> None:
    properties = pool["Properties"]

    assert properties["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    # The username is the contractor id: no email or phone alias signs in instead.
    assert "AliasAttributes" not in properties
    assert "UsernameAttributes" not in properties
    assert properties["UsernameConfiguration"] == {"CaseSensitive": True}


def test_passwords_are_strong(pool: dict[str, Any]) -> None:
    policy = pool["Properties"]["Policies"]["PasswordPolicy"]

    assert policy["MinimumLength"] >= 12
    assert policy["RequireLowercase"] is True
    assert policy["RequireUppercase"] is True
    assert policy["RequireNumbers"] is True
    assert policy["RequireSymbols"] is True
    assert policy["TemporaryPasswordValidityDays"] <= 7


def test_threat_protection_acts_on_risky_sign_ins(pool: dict[str, Any]) -> None:
    properties = pool["Properties"]

    assert properties["UserPoolTier"] == "PLUS"
    assert properties["UserPoolAddOns"] == {"AdvancedSecurityMode": "ENFORCED"}
    assert properties["MfaConfiguration"] == "OPTIONAL"
    assert properties["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]


def test_the_pool_outlives_the_stack(pool: dict[str, Any]) -> None:
    assert pool["DeletionPolicy"] == "Retain"
    assert pool["UpdateReplacePolicy"] == "Retain"
    assert pool["Properties"]["DeletionProtection"] == "ACTIVE"


def test_the_billing_resource_server_has_the_contractor_scope(synthesized: Synthesized) -> None:
    (logical_id,) = synthesized.of_type("AWS::Cognito::UserPoolResourceServer")
    server = synthesized.properties(logical_id)

    assert logical_id == names.BILLING_RESOURCE_SERVER_LOGICAL_ID
    assert server["UserPoolId"] == {"Ref": names.CONTRACTOR_USER_POOL_LOGICAL_ID}
    assert server["Identifier"] == "billing"
    assert [scope["ScopeName"] for scope in server["Scopes"]] == ["contractor"]
    assert names.CONTRACTOR_SCOPE == "billing/contractor"


def test_the_app_client_is_public_and_signs_in_with_a_code_and_pkce_or_srp(
    client: dict[str, Any],
) -> None:
    assert client["UserPoolId"] == {"Ref": names.CONTRACTOR_USER_POOL_LOGICAL_ID}
    assert client["GenerateSecret"] is False
    assert client["AllowedOAuthFlows"] == ["code"]
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["ExplicitAuthFlows"] == ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    assert client["SupportedIdentityProviders"] == ["COGNITO"]
    assert client["CallbackURLs"] == {"Ref": names.CONTRACTOR_APP_CALLBACK_URLS_PARAMETER}


def test_the_app_client_may_ask_for_the_contractor_scope(client: dict[str, Any]) -> None:
    assert client["AllowedOAuthScopes"] == [
        "openid",
        {"Fn::Join": ["", [{"Ref": names.BILLING_RESOURCE_SERVER_LOGICAL_ID}, "/contractor"]]},
    ]


def test_tokens_expire_within_sane_bounds(client: dict[str, Any]) -> None:
    assert client["TokenValidityUnits"] == {
        "AccessToken": "minutes",
        "IdToken": "minutes",
        "RefreshToken": "minutes",
    }
    assert client["AccessTokenValidity"] == 60
    assert client["IdTokenValidity"] == 60
    assert client["RefreshTokenValidity"] == 30 * 24 * 60
    assert client["EnableTokenRevocation"] is True
    assert client["PreventUserExistenceErrors"] == "ENABLED"


def test_the_callback_urls_are_a_parameter_operators_set(synthesized: Synthesized) -> None:
    parameter = synthesized.template.to_json()["Parameters"][
        names.CONTRACTOR_APP_CALLBACK_URLS_PARAMETER
    ]

    assert parameter["Type"] == "CommaDelimitedList"
    assert "Default" not in parameter


def test_the_pool_has_a_domain_for_its_oauth_endpoints(synthesized: Synthesized) -> None:
    domain = synthesized.properties(names.CONTRACTOR_USER_POOL_DOMAIN_LOGICAL_ID)

    assert domain["UserPoolId"] == {"Ref": names.CONTRACTOR_USER_POOL_LOGICAL_ID}
    assert domain["Domain"] == {"Fn::Join": ["-", ["lead-billing", {"Ref": "AWS::AccountId"}]]}
