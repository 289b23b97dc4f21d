"""The documents bucket (R5, R13): each invoice's PDF as its email carried it, private,
TLS only, encrypted, versioned and retained; written by the functions that email
invoices, read by the api function, and nothing else granted."""

from __future__ import annotations

from typing import Any

import pytest

from infra import names
from tests.infra.support import Synthesized, get_att, granted

BUCKET = names.DOCUMENTS_BUCKET_LOGICAL_ID
INVOICE_PDFS = {"Fn::Join": ["", [get_att(BUCKET), "/invoices/*"]]}
FUNCTIONS = [
    names.ON_LEAD,
    names.API,
    names.WEEKLY_INVOICE,
    names.CARD_UPDATED,
    names.BUDGET_RESET,
    names.GRACE_CHECK,
    names.NOTIFY,
    names.RECONCILE,
]
# The functions that email invoices keep their PDFs; the api function serves them.
EXPECTED_S3: dict[str, dict[str, list[Any]]] = {
    names.WEEKLY_INVOICE: {"s3:GetObject": [INVOICE_PDFS], "s3:PutObject": [INVOICE_PDFS]},
    names.CARD_UPDATED: {"s3:GetObject": [INVOICE_PDFS], "s3:PutObject": [INVOICE_PDFS]},
    # R5: an invoice whose first attempt the daily reconciliation resolves is emailed then.
    names.RECONCILE: {"s3:GetObject": [INVOICE_PDFS], "s3:PutObject": [INVOICE_PDFS]},
    # ListBucket on the bucket only: a PDF not kept yet is then a 404, not a 403.
    names.API: {"s3:GetObject": [INVOICE_PDFS], "s3:ListBucket": [get_att(BUCKET)]},
}


@pytest.fixture(scope="module")
def bucket(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.resources[BUCKET]


def test_the_stack_has_one_documents_bucket_with_its_fixed_logical_id(
    synthesized: Synthesized,
) -> None:
    # The other bucket holds the Lead Manager's page (infra/web.py, tests/infra/test_web.py).
    assert sorted(synthesized.of_type("AWS::S3::Bucket")) == sorted(
        [BUCKET, names.WEB_BUCKET_LOGICAL_ID]
    )


def test_the_bucket_blocks_all_public_access_and_acls(bucket: dict[str, Any]) -> None:
    properties = bucket["Properties"]

    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert properties["OwnershipControls"] == {
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]
    }


def test_the_bucket_is_encrypted_and_versioned(bucket: dict[str, Any]) -> None:
    properties = bucket["Properties"]

    [rule] = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}


def test_the_bucket_outlives_the_stack(bucket: dict[str, Any]) -> None:
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["UpdateReplacePolicy"] == "Retain"


def test_the_bucket_refuses_requests_without_tls(synthesized: Synthesized) -> None:
    [policy] = [
        resource["Properties"]
        for resource in synthesized.of_type("AWS::S3::BucketPolicy").values()
        if resource["Properties"]["Bucket"] == {"Ref": BUCKET}
    ]
    denials = [
        statement
        for statement in policy["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny" and statement["Principal"] == {"AWS": "*"}
    ]

    assert {"Bool": {"aws:SecureTransport": "false"}} in [s["Condition"] for s in denials]
    assert all(s["Action"] == "s3:*" for s in denials)


@pytest.mark.parametrize(
    "function", [names.WEEKLY_INVOICE, names.CARD_UPDATED, names.API, names.RECONCILE]
)
def test_the_functions_that_use_the_bucket_are_told_its_name(
    synthesized: Synthesized, function: str
) -> None:
    variables = synthesized.function(function)["Environment"]["Variables"]

    assert names.DOCUMENTS_BUCKET == "DOCUMENTS_BUCKET"
    assert variables[names.DOCUMENTS_BUCKET] == {"Ref": BUCKET}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_is_granted_exactly_its_s3_actions_on_the_invoice_pdfs(
    synthesized: Synthesized, function: str
) -> None:
    assert granted(synthesized, function, "s3:") == EXPECTED_S3.get(function, {})


def test_no_function_may_delete_or_replace_the_bucket_settings(synthesized: Synthesized) -> None:
    actions = {action for function in FUNCTIONS for action in granted(synthesized, function, "s3:")}

    assert actions == {"s3:GetObject", "s3:PutObject", "s3:ListBucket"}
