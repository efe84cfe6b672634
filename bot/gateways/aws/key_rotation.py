"""IAM access-key rotation into Secrets Manager, blocking (the gateway runs it off the event loop):
create the key, store its id and secret in Secrets Manager (one ClientRequestToken for every
attempt, creating the secret if it does not exist yet) and return a `KeyRotation` that holds no
secret. A key whose secret could not be stored raises `OrphanKeyError` naming the key to delete.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from bot.gateways.aws.clients import AwsClients
from bot.gateways.aws.failures import OrphanKeyError, _translate

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyRotation:
    """A new access key whose secret went straight into Secrets Manager (and nowhere else)."""

    user_name: str
    access_key_id: str
    secret_arn: str
    secret_version_id: str
    request_id: str


def rotate_access_key_into_secret(
    clients: AwsClients,
    user_name: str,
    secret_id: str,
    region: str,
    role_arn: str | None,
    tags: dict[str, str] | None,
) -> KeyRotation:
    """Create an IAM access key for `user_name` and store it in Secrets Manager as `secret_id`."""
    identity = clients.identity(role_arn, tags, None, region)
    try:
        iam = clients.client("iam", region, "write", identity)
        key = iam.create_access_key(UserName=user_name)["AccessKey"]
    except (ClientError, BotoCoreError) as exc:
        raise _translate(
            exc, "iam", "create_access_key", region, mutating=True
        ) from None
    key_id = key["AccessKeyId"]
    secret = json.dumps(
        {"AccessKeyId": key_id, "SecretAccessKey": key["SecretAccessKey"]}
    )
    # One token for every attempt: botocore may retry, Secrets Manager stores one version.
    token = str(uuid.uuid4())
    sm = clients.client("secretsmanager", region, "read", identity)
    try:
        try:
            stored = sm.put_secret_value(
                SecretId=secret_id, SecretString=secret, ClientRequestToken=token
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            stored = sm.create_secret(
                Name=secret_id, SecretString=secret, ClientRequestToken=token
            )
    except (ClientError, BotoCoreError) as exc:
        cause = _translate(
            exc, "secretsmanager", "put_secret_value", region, mutating=True
        )
        raise OrphanKeyError(
            f"created access key {key_id} for {user_name} but could not store it in"
            f" Secrets Manager ({cause.code}); its secret is lost",
            access_key_id=key_id,
            service="iam",
            operation="create_access_key",
            region=region,
            code=cause.code,
            request_id=cause.request_id,
            http_status=cause.http_status,
            proves_not_run=False,
            retryable=False,
            next_step=f"delete the orphan key {key_id} of {user_name} and rotate again",
        ) from None
    logger.info("aws iam:CreateAccessKey for %s stored in %s", user_name, stored["ARN"])
    meta = stored.get("ResponseMetadata", {})
    return KeyRotation(
        user_name,
        key_id,
        stored["ARN"],
        stored["VersionId"],
        str(meta.get("RequestId", "")),
    )
