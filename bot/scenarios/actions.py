"""The closed catalogue of curated actions, as declarations.

A curated action is something one AWS call cannot express safely (a rollback that must find the
previous task definition, a key rotation whose secret must never reach Slack). This module owns only
their *declarations*: name, summary, typed inputs, outputs a later step may reference, whether the
action is destructive, and the AWS operations it uses (for `scenarios lint` and a future IAM-policy
printer). Nothing here executes anything: the executors are the runbook service's
(`bot/services/runbooks/action_runs.py`). This module must not import boto3, Slack or storage.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

_REGION = r"^[a-z]{2}(-gov)?-[a-z]+-\d$"


class _Inputs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EcsRollbackInputs(_Inputs):
    """Roll a service back to the newest ACTIVE revision of its family older than the one it runs."""

    cluster: str = Field(min_length=1)
    service: str = Field(min_length=1)
    region: str = Field(pattern=_REGION)


class RdsRestoreNewestSnapshotInputs(_Inputs):
    """Restore the newest available snapshot of an instance into a new instance."""

    source_db_instance: str = Field(min_length=1)
    target_db_instance: str = Field(min_length=1)
    region: str = Field(pattern=_REGION)


class S3CopyBackupPrefixInputs(_Inputs):
    """Copy every object under a prefix to another bucket, possibly in another region."""

    source_bucket: str = Field(min_length=3)
    source_prefix: str = ""
    destination_bucket: str = Field(min_length=3)
    destination_prefix: str = ""
    region: str = Field(pattern=_REGION, description="region of the destination bucket")


class IamRotateAccessKeyInputs(_Inputs):
    """Create a new access key and store its secret in Secrets Manager; never post the secret."""

    user_name: str = Field(min_length=1)
    secret_name: str = Field(
        min_length=1, description="Secrets Manager secret that receives the new key"
    )
    region: str = Field(
        pattern=_REGION, description="region of the Secrets Manager secret"
    )


@dataclass(frozen=True)
class ActionSpec:
    """A curated action's declaration. `operations` are (service, API operation name) pairs."""

    name: str
    summary: str
    inputs: type[_Inputs]
    destructive: bool
    mutating: bool
    operations: tuple[tuple[str, str], ...]
    outputs: tuple[str, ...] = ()


CATALOGUE: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec(
            name="ecs_rollback",
            summary="Roll an ECS service back to its previous task definition: the newest ACTIVE revision "
            "of the service's family older than the one it runs now (both revisions are shown).",
            inputs=EcsRollbackInputs,
            destructive=False,
            mutating=True,
            operations=(
                ("ecs", "DescribeServices"),
                ("ecs", "ListTaskDefinitions"),
                ("ecs", "DescribeTaskDefinition"),
                ("ecs", "UpdateService"),
            ),
            outputs=("current_task_definition", "previous_task_definition"),
        ),
        ActionSpec(
            name="rds_restore_newest_snapshot",
            summary="Restore the newest available snapshot of a DB instance into a new instance.",
            inputs=RdsRestoreNewestSnapshotInputs,
            destructive=True,
            mutating=True,
            operations=(
                ("rds", "DescribeDBSnapshots"),
                ("rds", "RestoreDBInstanceFromDBSnapshot"),
                ("rds", "DescribeDBInstances"),
            ),
            outputs=("snapshot_id", "snapshot_time", "db_instance"),
        ),
        ActionSpec(
            name="s3_copy_backup_prefix",
            summary="Copy a backup prefix to another bucket or region (server-side copies; nothing is deleted).",
            inputs=S3CopyBackupPrefixInputs,
            destructive=False,
            mutating=True,
            operations=(
                ("s3", "ListObjectsV2"),
                ("s3", "CopyObject"),
                ("s3", "HeadObject"),
            ),
            outputs=("objects_copied", "bytes_copied"),
        ),
        ActionSpec(
            name="iam_rotate_access_key",
            summary="Create a new access key for an IAM user, store it in Secrets Manager and post the "
            "secret's ARN (never the key). Deleting the old key is a separate, destructive step.",
            inputs=IamRotateAccessKeyInputs,
            destructive=False,
            mutating=True,
            operations=(
                ("iam", "ListAccessKeys"),
                ("iam", "CreateAccessKey"),
                ("secretsmanager", "DescribeSecret"),
                ("secretsmanager", "CreateSecret"),
                ("secretsmanager", "PutSecretValue"),
            ),
            outputs=("new_access_key_id", "secret_arn"),
        ),
    )
}


def get_action(name: str) -> ActionSpec:
    """Return a curated action's declaration (KeyError if it is not in the catalogue)."""
    return CATALOGUE[name]
