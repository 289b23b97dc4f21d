"""Contractors' sign-in: the Cognito user pool whose access tokens the contractor routes of
the API accept (``infra/api.py``), and the app client of the Pro App and the Lead Manager.

Each contractor's user is created by an operator with the contractor id as its username,
the claim the functions read (``functions/adapters/identity.py``); nobody signs up alone.

The contractor routes require the scope ``billing/contractor`` of the ``billing`` resource
server. Cognito writes a resource server's scopes into the access tokens of its OAuth 2.0
endpoints only, so the apps sign contractors in through the authorization code grant with
PKCE on the pool's domain; tokens of a direct SRP sign-in carry no such scope and are
refused by those routes.
"""

from __future__ import annotations

from typing import cast

from aws_cdk import Aws, CfnParameter, Duration, Fn, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from infra import names
from infra.nag import acknowledge

ACCESS_TOKEN_VALIDITY = Duration.hours(1)
ID_TOKEN_VALIDITY = Duration.hours(1)
REFRESH_TOKEN_VALIDITY = Duration.days(30)
# A sign-in that started must finish within this time.
AUTH_SESSION_VALIDITY = Duration.minutes(5)
PASSWORD_MIN_LENGTH = 12
TEMPORARY_PASSWORD_VALIDITY = Duration.days(3)
PASSWORD_HISTORY_SIZE = 5


class ContractorIdentity(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(username=True),
            # Contractor ids are case sensitive, and so is the claim the functions read.
            sign_in_case_sensitive=True,
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=False, mutable=True)
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            password_policy=cognito.PasswordPolicy(
                min_length=PASSWORD_MIN_LENGTH,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=TEMPORARY_PASSWORD_VALIDITY,
                password_history_size=PASSWORD_HISTORY_SIZE,
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            # Threat protection: compromised credentials and risky sign-ins are detected
            # and acted on, not only reported.
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            # The contractors' users outlive a deletion of the stack.
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        cast(cognito.CfnUserPool, self.user_pool.node.default_child).override_logical_id(
            names.CONTRACTOR_USER_POOL_LOGICAL_ID
        )
        acknowledge(
            self.user_pool,
            "AwsSolutions-COG2",
            "Contractors sign in to the Pro App and the Lead Manager with the users this pool "
            "holds; requiring MFA would lock out every contractor who has not enrolled a "
            "second factor. TOTP MFA is offered to every user, and threat protection runs in "
            "full-function mode to act on compromised credentials and risky sign-ins.",
        )

        self.contractor_scope = cognito.ResourceServerScope(
            scope_name=names.CONTRACTOR_SCOPE_NAME,
            scope_description="Act on the billing of the contractor the token names",
        )
        self.resource_server = self.user_pool.add_resource_server(
            "BillingResourceServer",
            identifier=names.BILLING_RESOURCE_SERVER,
            user_pool_resource_server_name="Lead billing",
            scopes=[self.contractor_scope],
        )
        cast(
            cognito.CfnUserPoolResourceServer, self.resource_server.node.default_child
        ).override_logical_id(names.BILLING_RESOURCE_SERVER_LOGICAL_ID)

        self.callback_urls = CfnParameter(
            self,
            "CallbackUrls",
            type="CommaDelimitedList",
            description="The redirect URIs of the Pro App and the Lead Manager that the "
            "contractors' sign-in returns to with an authorization code (comma separated).",
        )
        self.callback_urls.override_logical_id(names.CONTRACTOR_APP_CALLBACK_URLS_PARAMETER)

        # A public client: the apps run on contractors' devices and browsers, where a
        # client secret would not stay secret; PKCE protects the authorization code.
        self.app_client = self.user_pool.add_client(
            "AppClient",
            user_pool_client_name="pro-app-and-lead-manager",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True, implicit_code_grant=False),
                scopes=[
                    cognito.OAuthScope.OPENID,
                    cognito.OAuthScope.resource_server(self.resource_server, self.contractor_scope),
                ],
                callback_urls=self.callback_urls.value_as_list,
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            access_token_validity=ACCESS_TOKEN_VALIDITY,
            id_token_validity=ID_TOKEN_VALIDITY,
            refresh_token_validity=REFRESH_TOKEN_VALIDITY,
            auth_session_validity=AUTH_SESSION_VALIDITY,
            enable_token_revocation=True,
            prevent_user_existence_errors=True,
        )
        cast(cognito.CfnUserPoolClient, self.app_client.node.default_child).override_logical_id(
            names.CONTRACTOR_APP_CLIENT_LOGICAL_ID
        )

        # The OAuth 2.0 endpoints the apps sign in through. A Cognito domain prefix is
        # unique in its region across accounts, hence the account id in it.
        self.domain = self.user_pool.add_domain(
            "Domain",
            cognito_domain=cognito.CognitoDomainOptions(
                domain_prefix=Fn.join("-", ["lead-billing", Aws.ACCOUNT_ID])
            ),
        )
        cast(cognito.CfnUserPoolDomain, self.domain.node.default_child).override_logical_id(
            names.CONTRACTOR_USER_POOL_DOMAIN_LOGICAL_ID
        )

    @property
    def scope(self) -> str:
        """The scope every contractor route requires: ``billing/contractor``."""
        return names.CONTRACTOR_SCOPE
