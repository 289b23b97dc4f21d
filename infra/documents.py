"""The documents bucket: each invoice's PDF as its email carried it (R5), kept when the
email is sent (``weekly_invoice``, ``card_updated``) and served to the contractor by the
api function (``GET /me/invoices/{invoice_id}/pdf``, R13).

Invoices are financial records: the bucket is private, reached over TLS only, encrypted,
versioned (an object deleted or replaced by mistake can be recovered) and kept when the
stack is deleted. Each function is granted the object actions it calls, under
``invoices/`` only.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import names
from infra.buckets import private_bucket
from infra.function import BillingFunction
from infra.nag import acknowledge


class InvoiceDocumentsBucket(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.bucket = private_bucket(
            self,
            names.DOCUMENTS_BUCKET_LOGICAL_ID,
            versioned=True,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="AbortIncompleteUploads",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
        acknowledge(
            self.bucket,
            "AwsSolutions-S1",
            "Only the roles of weekly_invoice, card_updated and reconcile write here (each "
            "invoice's PDF "
            "once, with a conditional put, reading back the PDF kept when there is one), and "
            "only the api function's role reads otherwise, on behalf of a contractor whose "
            "request is in the API's access logs with the caller. "
            "Server access logs would need a second bucket that logs nothing new; CloudTrail "
            "data events are the account's choice for object-level audit.",
        )

    @property
    def bucket_name(self) -> str:
        return self.bucket.bucket_name

    def _invoices(self, function: BillingFunction) -> str:
        """The invoice PDFs' ARN pattern, acknowledged as the one wildcard of ``function``'s
        role that names objects."""
        pattern = f"{names.INVOICE_DOCUMENTS_PREFIX}*"
        acknowledge(
            function.role,
            f"AwsSolutions-IAM5[Resource::<{names.DOCUMENTS_BUCKET_LOGICAL_ID}.Arn>/{pattern}]",
            "An object ARN cannot name keys that do not exist yet: each invoice's PDF is a "
            "new key. The pattern is limited to the invoice PDFs (the invoices/ prefix) of "
            "the documents bucket.",
        )
        return self.bucket.arn_for_objects(pattern)

    def grant_store(self, function: BillingFunction) -> None:
        """Keep an invoice's PDF once: the conditional put, and the read of the PDF kept
        when one is there already (the email then carries that one)."""
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject", "s3:PutObject"], resources=[self._invoices(function)]
            )
        )

    def grant_read(self, function: BillingFunction) -> None:
        """Read an invoice's PDF. ListBucket on the bucket (no object access) makes S3
        answer a PDF not stored yet with 404 rather than 403, so that "not sent yet" is
        told apart from a permission error."""
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[self._invoices(function)]),
            iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn]),
        )
