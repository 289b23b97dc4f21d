"""The Lead Manager's billing page (issue 6, R11, R13): a private bucket read by CloudFront
through an origin access control, HTTPS only, security headers with a content security
policy that allows Stripe.js and the sign-in, ``/me/*`` routed to the REST API uncached,
and the page deployed with its runtime configuration."""

from __future__ import annotations

from typing import Any

import pytest

from infra import names
from infra.web_headers import deployed_policy, local_policy
from tests.infra.support import Synthesized, get_att

BUCKET = names.WEB_BUCKET_LOGICAL_ID
DISTRIBUTION = names.WEB_DISTRIBUTION_LOGICAL_ID
# CloudFront's managed policies, by their fixed ids.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
COGNITO_DOMAIN = "https://${ContractorUserPoolDomain}.auth.${AWS::Region}.amazoncognito.com"


def rendered(value: Any) -> str:
    """A template value as text, references written ``${LogicalId}``."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(rendered(part) for part in parts)
    if "Ref" in value:
        return "${" + value["Ref"] + "}"
    if "Fn::GetAtt" in value:
        return "${" + ".".join(value["Fn::GetAtt"]) + "}"
    raise AssertionError(f"cannot render {value!r}")


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for directive in policy.split(";"):
        name, *sources = directive.split()
        parsed[name] = sources
    return parsed


@pytest.fixture(scope="module")
def config(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.properties(DISTRIBUTION)["DistributionConfig"]


@pytest.fixture(scope="module")
def behaviors(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {"default": config["DefaultCacheBehavior"]}
    found.update({b["PathPattern"]: b for b in config.get("CacheBehaviors", [])})
    return found


@pytest.fixture(scope="module")
def security_headers(synthesized: Synthesized, behaviors) -> dict[str, Any]:
    [policy] = {behavior["ResponseHeadersPolicyId"]["Ref"] for behavior in behaviors.values()}
    return synthesized.properties(policy)["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]


@pytest.fixture(scope="module")
def csp(security_headers: dict[str, Any]) -> dict[str, list[str]]:
    header = security_headers["ContentSecurityPolicy"]
    assert header["Override"] is True
    return directives(rendered(header["ContentSecurityPolicy"]))


def _origin(config: dict[str, Any], behavior: dict[str, Any]) -> dict[str, Any]:
    [origin] = [o for o in config["Origins"] if o["Id"] == behavior["TargetOriginId"]]
    return origin


def test_the_page_bucket_is_private(synthesized: Synthesized) -> None:
    properties = synthesized.properties(BUCKET)

    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert properties["OwnershipControls"] == {
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]
    }
    assert "WebsiteConfiguration" not in properties
    [rule] = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_only_the_distribution_reads_the_bucket_and_only_over_tls(
    synthesized: Synthesized,
) -> None:
    [policy] = [
        resource["Properties"]["PolicyDocument"]
        for resource in synthesized.of_type("AWS::S3::BucketPolicy").values()
        if resource["Properties"]["Bucket"] == {"Ref": BUCKET}
    ]
    allowed = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    denied = [s for s in policy["Statement"] if s["Effect"] == "Deny"]

    assert allowed == [
        {
            "Action": "s3:GetObject",
            "Condition": {
                "StringEquals": {
                    "AWS:SourceArn": {
                        "Fn::Join": [
                            "",
                            [
                                "arn:",
                                {"Ref": "AWS::Partition"},
                                ":cloudfront::",
                                {"Ref": "AWS::AccountId"},
                                ":distribution/",
                                {"Ref": DISTRIBUTION},
                            ],
                        ]
                    }
                }
            },
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Resource": {"Fn::Join": ["", [get_att(BUCKET), "/*"]]},
        }
    ]
    assert {"Bool": {"aws:SecureTransport": "false"}} in [s["Condition"] for s in denied]
    assert all(s["Principal"] == {"AWS": "*"} and s["Action"] == "s3:*" for s in denied)


def test_cloudfront_reads_the_bucket_through_an_origin_access_control(
    synthesized: Synthesized, config: dict[str, Any], behaviors
) -> None:
    origin = _origin(config, behaviors["default"])

    assert origin["DomainName"] == get_att(BUCKET, "RegionalDomainName")
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy OAI
    control = origin["OriginAccessControlId"]["Fn::GetAtt"][0]
    assert synthesized.properties(control)["OriginAccessControlConfig"] == {
        "Name": synthesized.properties(control)["OriginAccessControlConfig"]["Name"],
        "OriginAccessControlOriginType": "s3",
        "SigningBehavior": "always",
        "SigningProtocol": "sigv4",
    }
    assert not synthesized.of_type("AWS::CloudFront::CloudFrontOriginAccessIdentity")


def test_viewers_reach_every_path_over_https_only(config: dict[str, Any], behaviors) -> None:
    assert set(behaviors) == {"default", "/me/*"}
    assert {b["ViewerProtocolPolicy"] for b in behaviors.values()} == {"https-only"}
    assert config["DefaultRootObject"] == "index.html"


def test_the_page_is_cached_and_read_only(behaviors) -> None:
    page = behaviors["default"]

    assert page["AllowedMethods"] == ["GET", "HEAD"]
    assert page["CachePolicyId"] == CACHING_OPTIMIZED


def test_the_api_is_on_the_pages_origin_uncached_with_the_callers_authorization(
    config: dict[str, Any], behaviors
) -> None:
    api = behaviors["/me/*"]
    origin = _origin(config, api)

    # Never cached; with caching disabled, the AllViewer policies forward Authorization.
    assert api["CachePolicyId"] == CACHING_DISABLED
    assert api["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    assert set(api["AllowedMethods"]) >= {"GET", "PUT", "POST"}
    assert origin["CustomOriginConfig"] == {
        "OriginProtocolPolicy": "https-only",
        "OriginSSLProtocols": ["TLSv1.2"],
    }
    # The stage's URL, https://<api>.execute-api.<region>.<suffix>/<stage>/: its host,
    # and its stage as the origin path.
    host = origin["DomainName"]["Fn::Select"]
    stage_url = rendered(host[1]["Fn::Split"][1])
    assert stage_url.startswith(f"https://${{{names.OPERATOR_API_LOGICAL_ID}}}.execute-api.")
    assert "DeploymentStage" + names.API_STAGE_NAME in stage_url
    assert host[0] == 2
    slash, stage = origin["OriginPath"]["Fn::Join"][1]
    assert (slash, stage["Fn::Select"][0], rendered(stage["Fn::Select"][1]["Fn::Split"][1])) == (
        "/",
        3,
        stage_url,
    )


def test_every_answer_carries_the_security_headers(security_headers: dict[str, Any]) -> None:
    hsts = security_headers["StrictTransportSecurity"]

    assert hsts["AccessControlMaxAgeSec"] >= 31_536_000
    assert hsts["IncludeSubdomains"] is True
    assert security_headers["ContentTypeOptions"] == {"Override": True}
    assert security_headers["FrameOptions"] == {"FrameOption": "DENY", "Override": True}
    assert security_headers["ReferrerPolicy"]["ReferrerPolicy"] == (
        "strict-origin-when-cross-origin"
    )


def test_the_content_security_policy_allows_the_page_stripe_and_the_sign_in_only(
    csp: dict[str, list[str]],
) -> None:
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'", "https://js.stripe.com", "https://*.js.stripe.com"]
    assert csp["frame-src"] == [
        "https://js.stripe.com",
        "https://*.js.stripe.com",
        "https://hooks.stripe.com",
    ]
    # The API is the page's own origin ('self'); the sign-in's token endpoint is Cognito's.
    assert csp["connect-src"] == ["'self'", "https://api.stripe.com", COGNITO_DOMAIN]
    assert csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    every_source = [source for sources in csp.values() for source in sources]
    assert not [s for s in every_source if "unsafe" in s or s in ("*", "http:", "https:", "data:")]


def test_the_local_gateway_sends_the_same_policy_with_localstripe(
    csp: dict[str, list[str]],
) -> None:
    local = directives(local_policy("http://127.0.0.1:8420"))
    deployed = directives(deployed_policy("https://sign-in.example"))

    assert list(local) == list(deployed) == list(csp)
    for name in ("script-src", "connect-src", "frame-src"):
        assert "http://127.0.0.1:8420" in local[name]
    assert {
        k: v for k, v in local.items() if k not in ("script-src", "connect-src", "frame-src")
    } == {k: v for k, v in deployed.items() if k not in ("script-src", "connect-src", "frame-src")}


def test_the_page_is_deployed_with_its_runtime_configuration(synthesized: Synthesized) -> None:
    [deployment] = synthesized.of_type("Custom::CDKBucketDeployment").values()
    properties = deployment["Properties"]
    markers = {
        marker: rendered(value)
        for source in properties["SourceMarkers"]
        for marker, value in source.items()
    }

    assert properties["DestinationBucketName"] == {"Ref": BUCKET}
    assert properties["DistributionId"] == {"Ref": DISTRIBUTION}
    assert properties["DistributionPaths"] == ["/*"]
    assert properties["Prune"] is True
    # web/ as it is, and config.json with the stack's values resolved at deployment.
    assert len(properties["SourceObjectKeys"]) == 2
    assert sorted(markers.values()) == sorted(
        [
            f'"${{{names.STRIPE_PUBLISHABLE_KEY_PARAMETER}}}"',
            f'"{COGNITO_DOMAIN}/oauth2/authorize"',
            f'"{COGNITO_DOMAIN}/oauth2/token"',
            f'"${{{names.CONTRACTOR_APP_CLIENT_LOGICAL_ID}}}"',
        ]
    )


def test_the_publishable_key_is_a_parameter_and_the_page_address_an_output(
    synthesized: Synthesized,
) -> None:
    template = synthesized.template.to_json()
    parameter = template["Parameters"][names.STRIPE_PUBLISHABLE_KEY_PARAMETER]
    output = template["Outputs"][names.WEB_URL_OUTPUT]

    assert parameter["Type"] == "String"
    assert parameter["AllowedPattern"] == "^pk_(test|live)_[A-Za-z0-9]+$"
    assert "Default" not in parameter
    assert rendered(output["Value"]) == f"https://${{{DISTRIBUTION}.DomainName}}/"
