"""The Lead Manager's billing page (``web/``, R11, R13): a private S3 bucket behind a
CloudFront distribution, which also routes ``/me/*`` to the billing API.

* **The page** is the files of ``web/`` as they are (no build step), deployed into the
  bucket with ``config.json`` beside them: Stripe's publishable key (the stack parameter
  ``StripePublishableKey``), Stripe.js's address, and the contractors' sign-in (the user
  pool domain's OAuth 2.0 endpoints and the app client of ``infra/contractors.py``: the
  authorization code grant with PKCE). The bucket blocks all public access and takes
  requests over TLS only; CloudFront reads it through an origin access control.
* **The API on the page's origin.** The distribution routes ``/me/*`` to the REST API's
  stage, uncached, with every viewer header but ``Host`` (``Authorization`` included, which
  CloudFront forwards when caching is disabled). The page calls its API on its own origin,
  so the API needs no CORS and the content security policy no other API origin.
* **HTTPS only**, and every answer carries the security headers of
  ``infra/web_headers.py``: HSTS, ``nosniff``, frames denied, a referrer policy, and a
  content security policy that allows the page's own files, Stripe.js and its frames, and
  the user pool domain's token endpoint.

Sign-in returns to the page's address (the stack output ``LeadManagerUrl``), which must be
one of the app client's redirect URIs: the ``ContractorAppCallbackUrls`` parameter.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from aws_cdk import CfnOutput, CfnParameter, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct, IConstruct

from infra import names
from infra.buckets import private_bucket
from infra.contractors import ContractorIdentity
from infra.nag import acknowledge
from infra.web_headers import (
    HSTS_MAX_AGE_SECONDS,
    STRIPE_JS_URL,
    deployed_policy,
)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
# The paths of the API the page calls, routed to the REST API's stage.
API_PATH_PATTERN = "/me/*"
SIGN_IN_SCOPES = ("openid", names.CONTRACTOR_SCOPE)


class LeadManagerWeb(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: apigateway.RestApi,
        contractors: ContractorIdentity,
    ) -> None:
        super().__init__(scope, construct_id)
        self.publishable_key = CfnParameter(
            self,
            "StripePublishableKey",
            type="String",
            allowed_pattern=r"^pk_(test|live)_[A-Za-z0-9]+$",
            constraint_description="a Stripe publishable key, such as pk_live_...",
            description="Stripe's publishable key (pk_live_... or pk_test_...), with which "
            "the Lead Manager's Stripe.js confirms a new card; not a secret.",
        )
        self.publishable_key.override_logical_id(names.STRIPE_PUBLISHABLE_KEY_PARAMETER)

        self.bucket = private_bucket(
            self,
            names.WEB_BUCKET_LOGICAL_ID,
            # Its files are web/ of the repository, deployed again at every deployment.
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.bucket,
            "AwsSolutions-S1",
            "The bucket holds the billing page's static files, the same for everyone and "
            "public through the distribution; only CloudFront (origin access control) reads "
            "them and only the deployment writes them. Server access logs would record "
            "nothing that is not in the repository and the CloudFormation events.",
        )

        sign_in = contractors.domain.base_url()
        self.headers = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="Lead Manager billing page: HSTS, CSP allowing Stripe.js, no framing",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=deployed_policy(sign_in), override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN,
                    override=True,
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.seconds(HSTS_MAX_AGE_SECONDS),
                    include_subdomains=True,
                    override=True,
                ),
            ),
        )

        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="Lead Manager billing page, and /me/* to the billing API",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(
                    self.bucket, origin_access_levels=[cloudfront.AccessLevel.READ]
                ),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=self.headers,
            ),
            additional_behaviors={
                API_PATH_PATTERN: cloudfront.BehaviorOptions(
                    origin=origins.RestApiOrigin(api),
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                    # Answers are the caller's own: never cached, and with caching off the
                    # AllViewer policies forward the Authorization header.
                    cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                    origin_request_policy=(
                        cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER
                    ),
                    response_headers_policy=self.headers,
                ),
            },
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            # North America and Europe: the contractors are in the United States.
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
        )
        cast(cloudfront.CfnDistribution, self.distribution.node.default_child).override_logical_id(
            names.WEB_DISTRIBUTION_LOGICAL_ID
        )
        self._acknowledge_distribution()

        self.url = f"https://{self.distribution.distribution_domain_name}/"
        self.deployment = s3deploy.BucketDeployment(
            self,
            "Page",
            destination_bucket=self.bucket,
            sources=[
                s3deploy.Source.asset(str(WEB_DIR)),
                s3deploy.Source.json_data(
                    "config.json",
                    {
                        # The API is on the page's origin: the distribution routes /me/*.
                        "api_base_url": "",
                        "stripe": {
                            "publishable_key": self.publishable_key.value_as_string,
                            "js_url": STRIPE_JS_URL,
                        },
                        "auth": {
                            "authorize_url": f"{sign_in}/oauth2/authorize",
                            "token_url": f"{sign_in}/oauth2/token",
                            "client_id": contractors.app_client.user_pool_client_id,
                            "scope": " ".join(SIGN_IN_SCOPES),
                        },
                        "environment": "aws",
                    },
                ),
            ],
            # Browsers ask again at every visit (a 304 when nothing changed), so a new
            # version of the page is seen at once; the deployment invalidates CloudFront.
            cache_control=[s3deploy.CacheControl.no_cache()],
            distribution=self.distribution,
            distribution_paths=["/*"],
            prune=True,
            retain_on_delete=False,
            memory_limit=256,
            log_group=logs.LogGroup(
                self, "DeploymentLogs", retention=logs.RetentionDays.THREE_MONTHS
            ),
        )
        self._acknowledge_deployment_handler()

        output = CfnOutput(
            self,
            "Url",
            value=self.url,
            description="The Lead Manager's billing page; sign-in returns here, so it must be "
            "one of the ContractorAppCallbackUrls.",
        )
        output.override_logical_id(names.WEB_URL_OUTPUT)

    def _acknowledge_distribution(self) -> None:
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR1",
            "Contractors sign in from wherever they work or travel; the page is static and "
            "every API request through it needs a contractor's Cognito access token, so a "
            "country allow list would lock out contractors without protecting anything.",
        )
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR2",
            "The distribution serves static files and passes /me/* to the REST API, whose "
            "routes need a Cognito access token and are throttled per method (the money "
            "routes at 5 per second); a WAF web ACL would add a fixed monthly cost and no "
            "check those do not make.",
        )
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR3",
            "Every API request through the distribution is in the REST API's access logs "
            "with its caller; the other requests fetch the page's static files, the same "
            "for everyone, which standard logs would add nothing about.",
        )
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR4",
            "The distribution uses CloudFront's default *.cloudfront.net certificate, for "
            "which CloudFront fixes the viewer security policy; a custom domain with an ACM "
            "certificate (and TLSv1.2_2021) is the deployment's choice, not the stack's.",
        )

    def _acknowledge_deployment_handler(self) -> None:
        """The BucketDeployment's handler is CDK's own singleton function at the stack's
        root, with CDK's policies; its findings are acknowledged there, on it alone."""
        handler = _bucket_deployment_handler(Stack.of(self))
        reason_managed = (
            "CDK's BucketDeployment handler runs with AWSLambdaBasicExecutionRole, the "
            "managed policy for writing its own logs; CDK creates its role, not this stack."
        )
        acknowledge(
            handler,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            reason_managed,
        )
        copy_reason = (
            "CDK's BucketDeployment handler copies the page's asset from CDK's asset bucket "
            "into this bucket, replacing what an earlier version left (prune): CDK grants it "
            "the read, list, write and delete actions of the two buckets by wildcard, on "
            "their objects, whose keys change with every version of the page."
        )
        for finding in (
            "Action::s3:GetObject*",
            "Action::s3:GetBucket*",
            "Action::s3:List*",
            "Action::s3:DeleteObject*",
            "Action::s3:Abort*",
            "Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-"
            "<AWS::Region>/*",
            f"Resource::<{names.WEB_BUCKET_LOGICAL_ID}.Arn>/*",
        ):
            acknowledge(handler, f"AwsSolutions-IAM5[{finding}]", copy_reason)
        acknowledge(
            handler,
            "AwsSolutions-IAM5[Resource::*]",
            "CDK grants its BucketDeployment handler cloudfront:CreateInvalidation and "
            "GetInvalidation on every distribution, to invalidate the page's distribution "
            "after a deployment; the handler is invoked by CloudFormation only.",
        )
        acknowledge(
            handler,
            "AwsSolutions-L1",
            "The runtime of CDK's BucketDeployment handler is chosen by the CDK version this "
            "stack pins (aws-cdk-lib in requirements.lock); it runs at deployment only, on "
            "the files of this repository.",
        )


def _bucket_deployment_handler(stack: Stack) -> IConstruct:
    """CDK's singleton handler of BucketDeployments in ``stack``."""
    for child in stack.node.children:
        if child.node.id.startswith("Custom::CDKBucketDeployment"):
            return child
    raise LookupError("the stack has no BucketDeployment handler")
