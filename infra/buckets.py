"""The one kind of bucket the stack has: private, reached over TLS 1.2 or later only,
encrypted, owned by the account (no ACLs), under the logical id ``infra/names.py`` gives it.
Each construct says what it keeps and for how long."""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import aws_s3 as s3
from constructs import Construct


def private_bucket(scope: Construct, logical_id: str, **properties: Any) -> s3.Bucket:
    bucket = s3.Bucket(
        scope,
        "Bucket",
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        minimum_tls_version=1.2,
        **properties,
    )
    cast(s3.CfnBucket, bucket.node.default_child).override_logical_id(logical_id)
    return bucket
