"""The billing's REST API: operator routes, contractor routes and Stripe's webhook.

* ``/admin``: operator routes, authorized by IAM (SigV4-signed requests from operators'
  roles) and proxied to the ``api`` function.
* ``/me``: contractor routes, authorized by the contractors' Cognito user pool with the
  scope ``billing/contractor`` (``infra/contractors.py``): the card flow and paying what is
  past due (``/me/pay``) are proxied to ``card_updated``, the billing state and the budget
  (``/me/billing``, ``/me/budget``) to ``api``. Both read the contractor from the verified
  claims, never from the request.
* ``/webhooks/stripe``: no authorizer, since Stripe cannot sign in; ``card_updated`` verifies
  the ``Stripe-Signature`` of every body and refuses what does not verify.

Each group of routes carries its own default method options, so nothing makes one
authorization the default of the whole API.
"""

from __future__ import annotations

from typing import cast

from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import names
from infra.contractors import ContractorIdentity
from infra.nag import acknowledge

# Throttling is per method across all callers (API Gateway's token bucket per stage and
# method); the README's "Calling the API" gives the reasoning.
# The stage default, for every other method: the reads, PUT /me/budget, the operator routes.
THROTTLING_RATE_LIMIT = 50  # requests per second, steady
THROTTLING_BURST_LIMIT = 100
# Money moves on these contractor routes: each call reaches Stripe (a SetupIntent, or a
# PaymentIntent per past-due invoice), whose live-mode limit of 100 writes per second the
# Friday runs and the webhooks share. A contractor needs them a few times a month.
MONEY_ROUTES = (
    ("/me/card/setup-intent", "POST"),
    ("/me/card/confirm", "POST"),
    ("/me/pay", "POST"),
)
MONEY_THROTTLING_RATE_LIMIT = 5
MONEY_THROTTLING_BURST_LIMIT = 10
# Stripe's deliveries are few; a flood on the one route anyone may call stops here, before
# the function verifies signatures. Stripe retries a throttled delivery for days.
WEBHOOK_PATH = "/webhooks/stripe"
WEBHOOK_THROTTLING_RATE_LIMIT = 20
WEBHOOK_THROTTLING_BURST_LIMIT = 40

# API Gateway's own refusals (before any function runs) answer like the functions do: a
# machine-readable ``error`` code and a human ``message``. local/gateway.py mirrors these.
GATEWAY_RESPONSES: tuple[tuple[apigateway.ResponseType, str], ...] = (
    (apigateway.ResponseType.UNAUTHORIZED, "unauthorized"),
    (apigateway.ResponseType.ACCESS_DENIED, "forbidden"),
    (apigateway.ResponseType.MISSING_AUTHENTICATION_TOKEN, "missing_authentication_token"),
    (apigateway.ResponseType.THROTTLED, "throttled"),
    (apigateway.ResponseType.DEFAULT_4_XX, "request_refused"),
    (apigateway.ResponseType.DEFAULT_5_XX, "gateway_error"),
)


def gateway_response_template(code: str) -> str:
    """The application/json body of a gateway response; ``messageString`` is quoted."""
    return f'{{"error": "{code}", "message": $context.error.messageString}}'


class BillingApi(Construct):
    """The REST API. Its construct id in the stack stays ``OperatorApi``, the id it had
    when it held the operator routes only: changing it would replace every resource,
    method and deployment of the API."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: lambda_.IFunction,
        card_updated: lambda_.IFunction,
        contractors: ContractorIdentity,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays.THREE_MONTHS
        )
        self.rest_api = apigateway.RestApi(
            self,
            "RestApi",
            description="Lead billing: operator routes, contractor routes, Stripe's webhook",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            cloud_watch_role=False,
            # An invoice's PDF leaves the function base64-encoded; API Gateway decodes it
            # for a client that accepts application/pdf.
            binary_media_types=["application/pdf"],
            deploy_options=apigateway.StageOptions(
                stage_name=names.API_STAGE_NAME,
                tracing_enabled=True,
                throttling_rate_limit=THROTTLING_RATE_LIMIT,
                throttling_burst_limit=THROTTLING_BURST_LIMIT,
                method_options={
                    **{
                        f"{path}/{method}": apigateway.MethodDeploymentOptions(
                            throttling_rate_limit=MONEY_THROTTLING_RATE_LIMIT,
                            throttling_burst_limit=MONEY_THROTTLING_BURST_LIMIT,
                        )
                        for path, method in MONEY_ROUTES
                    },
                    f"{WEBHOOK_PATH}/POST": apigateway.MethodDeploymentOptions(
                        throttling_rate_limit=WEBHOOK_THROTTLING_RATE_LIMIT,
                        throttling_burst_limit=WEBHOOK_THROTTLING_BURST_LIMIT,
                    ),
                },
                access_log_destination=apigateway.LogGroupLogDestination(self.access_logs),
                access_log_format=apigateway.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )
        cast(apigateway.CfnRestApi, self.rest_api.node.default_child).override_logical_id(
            names.OPERATOR_API_LOGICAL_ID
        )
        for response_type, code in GATEWAY_RESPONSES:
            self.rest_api.add_gateway_response(
                f"GatewayResponse{code.title().replace('_', '')}",
                type=response_type,
                templates={"application/json": gateway_response_template(code)},
            )
        # Checks that required path parameters are present. Bodies are validated by the
        # functions against their pydantic models, their only definition.
        self.validator = self.rest_api.add_request_validator(
            "RequestValidator", validate_request_body=True, validate_request_parameters=True
        )
        api_integration = apigateway.LambdaIntegration(api, proxy=True)
        self._operator_routes(api_integration)
        card_integration = apigateway.LambdaIntegration(card_updated, proxy=True)
        self._contractor_routes(card_integration, api_integration, contractors)
        self._webhook_route(card_integration)

        acknowledge(
            self.rest_api,
            "AwsSolutions-APIG3",
            "Operator routes need SigV4-signed requests, contractor routes a Cognito access "
            "token, and the webhook a valid Stripe signature, all throttled at the stage (the "
            "money-moving contractor routes and the webhook further); a WAF web ACL would add "
            "a fixed monthly cost and no check those do not make.",
        )
        acknowledge(
            self.rest_api,
            "AwsSolutions-APIG6",
            "Access logs of every request go to a log group, and the functions log each "
            "request with its outcome. Execution logging needs the account-wide API Gateway "
            "CloudWatch role, which is account configuration this stack does not own.",
        )

    def _operator_routes(self, integration: apigateway.LambdaIntegration) -> None:
        admin = self.rest_api.root.add_resource(
            "admin",
            default_method_options=apigateway.MethodOptions(
                authorization_type=apigateway.AuthorizationType.IAM
            ),
        )
        accounts = admin.add_resource("accounts")
        self._add_method(accounts, "POST", integration)
        account = accounts.add_resource("{contractor_id}")
        self._add_method(account, "GET", integration, "contractor_id")
        self._add_method(account, "PATCH", integration, "contractor_id")
        self._add_method(account.add_resource("invoices"), "GET", integration, "contractor_id")
        self._add_method(account.add_resource("ledger"), "GET", integration, "contractor_id")
        invoice = admin.add_resource("invoices").add_resource("{invoice_id}")
        self._add_method(invoice, "GET", integration, "invoice_id")
        lead = admin.add_resource("leads").add_resource("{lead_id}")
        self._add_method(lead.add_resource("credit"), "POST", integration, "lead_id")
        acknowledge(
            admin,
            "AwsSolutions-COG4",
            "The /admin routes are for operators, whose AWS roles sign their requests: they "
            "are authorized by IAM (SigV4), not by the contractors' Cognito user pool.",
        )

    def _contractor_routes(
        self,
        integration: apigateway.LambdaIntegration,
        api_integration: apigateway.LambdaIntegration,
        contractors: ContractorIdentity,
    ) -> None:
        self.contractor_authorizer = apigateway.CognitoUserPoolsAuthorizer(
            self,
            "ContractorAuthorizer",
            cognito_user_pools=[contractors.user_pool],
        )
        cast(
            apigateway.CfnAuthorizer, self.contractor_authorizer.node.default_child
        ).override_logical_id(names.CONTRACTOR_AUTHORIZER_LOGICAL_ID)
        me = self.rest_api.root.add_resource(
            "me",
            default_method_options=apigateway.MethodOptions(
                authorization_type=apigateway.AuthorizationType.COGNITO,
                authorizer=self.contractor_authorizer,
                # With scopes, API Gateway accepts access tokens only, and only those
                # granted one of these scopes.
                authorization_scopes=[contractors.scope],
            ),
        )
        card = me.add_resource("card")
        self._add_method(card.add_resource("setup-intent"), "POST", integration)
        self._add_method(card.add_resource("confirm"), "POST", integration)
        self._add_method(me.add_resource("pay"), "POST", integration)
        self._add_method(me.add_resource("billing"), "GET", api_integration)
        self._add_method(me.add_resource("budget"), "PUT", api_integration)
        self._add_method(me.add_resource("ledger"), "GET", api_integration)
        invoices = me.add_resource("invoices")
        self._add_method(invoices, "GET", api_integration)
        invoice = invoices.add_resource("{invoice_id}")
        self._add_method(invoice, "GET", api_integration, "invoice_id")
        self._add_method(invoice.add_resource("pdf"), "GET", api_integration, "invoice_id")

    def _add_method(
        self,
        resource: apigateway.IResource,
        http_method: str,
        integration: apigateway.LambdaIntegration,
        *path_parameters: str,
    ) -> apigateway.Method:
        """A method with the resource's default options and the request validator, which
        CDK does not carry over from a resource's default method options."""
        return resource.add_method(
            http_method,
            integration,
            request_validator=self.validator,
            request_parameters={
                f"method.request.path.{parameter}": True for parameter in path_parameters
            }
            or None,
        )

    def _webhook_route(self, integration: apigateway.LambdaIntegration) -> None:
        parts = [part for part in WEBHOOK_PATH.split("/") if part]
        resource = self.rest_api.root
        for part in parts:
            resource = resource.add_resource(part)
        method = resource.add_method(
            "POST", integration, authorization_type=apigateway.AuthorizationType.NONE
        )
        reason = (
            "Stripe calls this route and cannot sign in to AWS or to the user pool; every "
            "body must carry a valid Stripe-Signature (HMAC with the webhook secret, "
            "timestamped against replays), which the function verifies before reading it. "
            "The route has its own lower throttling."
        )
        acknowledge(method, "AwsSolutions-APIG4", reason)
        acknowledge(method, "AwsSolutions-COG4", reason)
