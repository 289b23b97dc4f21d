"""The operator API: a REST API whose every route is proxied to the ``api`` function.

Operator routes live under ``/admin`` and are authorized by IAM (SigV4-signed requests
from operators' roles). Contractor routes, authorized by a Cognito JWT authorizer, will
be added beside ``/admin`` with their own default method options, so nothing here makes
IAM the default of the whole API.
"""

from __future__ import annotations

from typing import cast

from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import names
from infra.nag import acknowledge

THROTTLING_RATE_LIMIT = 50  # requests per second, steady
THROTTLING_BURST_LIMIT = 100


class OperatorApi(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, handler: lambda_.IFunction) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays.THREE_MONTHS
        )
        self.rest_api = apigateway.RestApi(
            self,
            "RestApi",
            description="Lead billing: operator API (and, later, the contractor API)",
            endpoint_types=[apigateway.EndpointType.REGIONAL],
            cloud_watch_role=False,
            deploy_options=apigateway.StageOptions(
                stage_name=names.API_STAGE_NAME,
                tracing_enabled=True,
                throttling_rate_limit=THROTTLING_RATE_LIMIT,
                throttling_burst_limit=THROTTLING_BURST_LIMIT,
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
        # Checks that required path parameters are present. Bodies are validated by the
        # function against its pydantic models, their only definition.
        validator = self.rest_api.add_request_validator(
            "RequestValidator", validate_request_body=True, validate_request_parameters=True
        )
        integration = apigateway.LambdaIntegration(handler, proxy=True)

        admin = self.rest_api.root.add_resource(
            "admin",
            default_method_options=apigateway.MethodOptions(
                authorization_type=apigateway.AuthorizationType.IAM,
                request_validator=validator,
            ),
        )
        accounts = admin.add_resource("accounts")
        accounts.add_method("POST", integration)
        account = accounts.add_resource("{contractor_id}")
        account.add_method(
            "GET",
            integration,
            request_parameters={"method.request.path.contractor_id": True},
        )

        acknowledge(
            self.rest_api,
            "AwsSolutions-APIG3",
            "Every route is IAM-authorized and throttled at the stage; a WAF web ACL would "
            "filter SigV4-signed operator calls only, at a fixed monthly cost.",
        )
        acknowledge(
            self.rest_api,
            "AwsSolutions-APIG6",
            "Access logs of every request go to a log group, and the function logs each "
            "request with its outcome. Execution logging needs the account-wide API Gateway "
            "CloudWatch role, which is account configuration this stack does not own.",
        )
        acknowledge(
            self.rest_api,
            "AwsSolutions-COG4",
            "The /admin routes are for operators and are authorized by IAM (SigV4), not by "
            "a Cognito user pool; contractor routes will use a Cognito JWT authorizer.",
        )
