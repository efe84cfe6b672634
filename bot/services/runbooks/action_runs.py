"""Executors of the curated actions declared in `bot.scenarios.actions`: plan, execute, verify.

Each action is planned first with read-only calls, so the approval binds the concrete change (the
task definition it rolls back to, the snapshot it restores, the objects it copies); `execute` sends
only the mutating calls of that plan, once; `verify` reads back the effect. Key rotation creates the
key and stores its secret in Secrets Manager inside one worker thread, so the secret never reaches
the event loop, storage, logs or Slack: only the secret's ARN comes back. It knows nothing of Slack
or storage, and it never decides whether a call may run: the runbook service does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bot.errors import UsageError
from bot.gateways.aws.gateway import AwsCallError, AwsGateway
from bot.models.runbooks import Plan
from bot.scenarios.actions import get_action

_REVISION = re.compile(r":(\d+)$")


@dataclass(frozen=True)
class ActionPlanned:
    """The concrete change an action will make, with the current and proposed values."""

    plan: Plan
    current: Any
    proposed: Any


@dataclass(frozen=True)
class Outcome:
    summary: str
    outputs: dict[str, Any] = field(default_factory=dict)
    response: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verified:
    confirmed: bool
    summary: str


def _short(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _tail(key_id: str) -> str:
    return f"…{key_id[-4:]}"


class ActionRunner:
    """Runs curated actions through the AWS gateway."""

    def __init__(self, *, gateway: AwsGateway) -> None:
        self.gateway = gateway

    async def _read(
        self, service: str, operation: str, region: str, /, **params: Any
    ) -> dict[str, Any]:
        result = await self.gateway.call(
            service=service,
            operation=operation,
            region=region,
            params=params,
            mutating=False,
        )
        return result.response

    async def _write(
        self, service: str, operation: str, region: str, /, **params: Any
    ) -> dict[str, Any]:
        result = await self.gateway.call(
            service=service,
            operation=operation,
            region=region,
            params=params,
            mutating=True,
        )
        return result.response

    # -- plan ---------------------------------------------------------------------------------
    async def plan(self, name: str, params: dict[str, Any]) -> ActionPlanned:
        """Validate the action's inputs and work out its concrete change with read-only calls."""
        spec = get_action(name)
        try:
            inputs = spec.inputs.model_validate(params).model_dump()
        except ValueError as exc:
            raise UsageError(f"Action {name}: invalid parameters ({exc}).") from None
        region = str(inputs["region"])
        planner = getattr(self, f"_plan_{name}")
        planned: ActionPlanned = await planner(region, inputs)
        return planned

    async def _plan_ecs_rollback(self, region: str, p: dict[str, Any]) -> ActionPlanned:
        services = await self._read(
            "ecs",
            "describe_services",
            region,
            cluster=p["cluster"],
            services=[p["service"]],
        )
        found = services.get("services") or []
        if not found:
            raise UsageError(
                f"ECS service {p['service']} not found in {p['cluster']} ({region})."
            )
        current = str(found[0]["taskDefinition"])
        family, revision = current.rsplit("/", 1)[-1].rsplit(":", 1)
        listed = await self._read(
            "ecs",
            "list_task_definitions",
            region,
            familyPrefix=family,
            status="ACTIVE",
            sort="DESC",
        )
        older = [
            arn
            for arn in listed.get("taskDefinitionArns", [])
            if _short(arn).rsplit(":", 1)[0] == family
            and (m := _REVISION.search(arn))
            and int(m.group(1)) < int(revision)
        ]
        if not older:
            raise UsageError(
                f"{family}:{revision} has no older ACTIVE revision to roll back to."
            )
        previous = max(older, key=lambda arn: int(_REVISION.search(arn).group(1)))  # type: ignore[union-attr]
        plan = Plan(
            kind="action",
            service="ecs",
            operation="ecs_rollback",
            region=region,
            params={
                **p,
                "current_task_definition": current,
                "previous_task_definition": previous,
            },
        )
        return ActionPlanned(plan, _short(current), _short(previous))

    async def _plan_rds_restore_newest_snapshot(
        self, region: str, p: dict[str, Any]
    ) -> ActionPlanned:
        snaps = await self._read(
            "rds",
            "describe_db_snapshots",
            region,
            DBInstanceIdentifier=p["source_db_instance"],
        )
        available = [
            s for s in snaps.get("DBSnapshots", []) if s.get("Status") == "available"
        ]
        if not available:
            raise UsageError(
                f"No available snapshot of {p['source_db_instance']} in {region}."
            )
        newest = max(available, key=lambda s: str(s.get("SnapshotCreateTime", "")))
        plan = Plan(
            kind="action",
            service="rds",
            operation="rds_restore_newest_snapshot",
            region=region,
            params={
                **p,
                "snapshot_id": newest["DBSnapshotIdentifier"],
                "snapshot_time": str(newest.get("SnapshotCreateTime", "")),
            },
        )
        return ActionPlanned(
            plan,
            "no instance " + p["target_db_instance"],
            f"{p['target_db_instance']} from {newest['DBSnapshotIdentifier']}",
        )

    async def _plan_s3_copy_backup_prefix(
        self, region: str, p: dict[str, Any]
    ) -> ActionPlanned:
        listed = await self._read(
            "s3",
            "list_objects_v2",
            region,
            Bucket=p["source_bucket"],
            Prefix=p["source_prefix"],
        )
        keys = sorted(str(o["Key"]) for o in listed.get("Contents", []))
        if not keys:
            raise UsageError(
                f"Nothing under s3://{p['source_bucket']}/{p['source_prefix']} to copy."
            )
        plan = Plan(
            kind="action",
            service="s3",
            operation="s3_copy_backup_prefix",
            region=region,
            params={**p, "keys": keys[:1000]},
        )
        target = f"s3://{p['destination_bucket']}/{p['destination_prefix']}"
        return ActionPlanned(
            plan,
            f"{len(keys)} object(s) in s3://{p['source_bucket']}/{p['source_prefix']}",
            target,
        )

    async def _plan_iam_rotate_access_key(
        self, region: str, p: dict[str, Any]
    ) -> ActionPlanned:
        keys = (
            await self._read("iam", "list_access_keys", region, UserName=p["user_name"])
        ).get("AccessKeyMetadata", [])
        if len(keys) >= 2:
            raise UsageError(
                f"{p['user_name']} already has 2 access keys: delete the old one first."
            )
        plan = Plan(
            kind="action",
            service="iam",
            operation="iam_rotate_access_key",
            region=region,
            params=p,
        )
        return ActionPlanned(
            plan,
            f"{len(keys)} key(s)",
            f"{len(keys) + 1} keys; new secret in {p['secret_name']}",
        )

    # -- execute ------------------------------------------------------------------------------
    async def execute(self, plan: Plan) -> Outcome:
        """Send the plan's mutating calls (once) and return a summary and the action's outputs."""
        executor = getattr(self, f"_run_{plan.operation}")
        outcome: Outcome = await executor(plan.region, plan.params)
        return outcome

    async def _run_ecs_rollback(self, region: str, p: dict[str, Any]) -> Outcome:
        response = await self._write(
            "ecs",
            "update_service",
            region,
            cluster=p["cluster"],
            service=p["service"],
            taskDefinition=p["previous_task_definition"],
        )
        outputs = {
            k: _short(p[k])
            for k in ("current_task_definition", "previous_task_definition")
        }
        return Outcome(
            f"{p['service']} now runs {outputs['previous_task_definition']} "
            f"(was {outputs['current_task_definition']})",
            outputs,
            response,
        )

    async def _run_rds_restore_newest_snapshot(
        self, region: str, p: dict[str, Any]
    ) -> Outcome:
        response = await self._write(
            "rds",
            "restore_db_instance_from_db_snapshot",
            region,
            DBInstanceIdentifier=p["target_db_instance"],
            DBSnapshotIdentifier=p["snapshot_id"],
        )
        outputs = {
            "snapshot_id": p["snapshot_id"],
            "snapshot_time": p["snapshot_time"],
            "db_instance": p["target_db_instance"],
        }
        return Outcome(
            f"Restoring {p['target_db_instance']} from {p['snapshot_id']}",
            outputs,
            response,
        )

    async def _run_s3_copy_backup_prefix(
        self, region: str, p: dict[str, Any]
    ) -> Outcome:
        copied, size = 0, 0
        for key in p["keys"]:
            target = p["destination_prefix"] + key[len(p["source_prefix"]) :]
            await self._write(
                "s3",
                "copy_object",
                region,
                Bucket=p["destination_bucket"],
                Key=target,
                CopySource={"Bucket": p["source_bucket"], "Key": key},
            )
            head = await self._read(
                "s3", "head_object", region, Bucket=p["destination_bucket"], Key=target
            )
            copied, size = copied + 1, size + int(head.get("ContentLength", 0))
        outputs = {"objects_copied": copied, "bytes_copied": size}
        return Outcome(
            f"Copied {copied} object(s), {size} bytes, to s3://{p['destination_bucket']}/{p['destination_prefix']}",
            outputs,
        )

    async def _run_iam_rotate_access_key(
        self, region: str, p: dict[str, Any]
    ) -> Outcome:
        # The secret goes straight into Secrets Manager inside the gateway; it never comes back here.
        rotation = await self.gateway.create_access_key_into_secret(
            user_name=p["user_name"], secret_id=p["secret_name"], region=region
        )
        key_id, arn = rotation.access_key_id, rotation.secret_arn
        outputs = {"new_access_key_id": _tail(key_id), "secret_arn": arn}
        return Outcome(
            f"New access key {_tail(key_id)} for {p['user_name']} stored in {arn}",
            outputs,
        )

    # -- verify -------------------------------------------------------------------------------
    async def verify(self, plan: Plan) -> Verified:
        """Read back the effect of an action (after it ran, or when its outcome is unknown)."""
        p, region = plan.params, plan.region
        if plan.operation == "ecs_rollback":
            found = (
                await self._read(
                    "ecs",
                    "describe_services",
                    region,
                    cluster=p["cluster"],
                    services=[p["service"]],
                )
            )["services"]
            running = _short(str(found[0]["taskDefinition"])) if found else "nothing"
            ok = running == _short(p["previous_task_definition"])
            return Verified(ok, f"{p['service']} runs {running}")
        if plan.operation == "rds_restore_newest_snapshot":
            return await self._verify_instance(region, p["target_db_instance"])
        if plan.operation == "s3_copy_backup_prefix":
            listed = await self._read(
                "s3",
                "list_objects_v2",
                region,
                Bucket=p["destination_bucket"],
                Prefix=p["destination_prefix"],
            )
            count = len(listed.get("Contents", []))
            return Verified(
                count >= len(p["keys"]),
                f"{count} object(s) under s3://{p['destination_bucket']}/{p['destination_prefix']}",
            )
        keys = (
            await self._read("iam", "list_access_keys", region, UserName=p["user_name"])
        ).get("AccessKeyMetadata", [])
        lines = ", ".join(
            f"{_tail(str(k['AccessKeyId']))} {k.get('Status', '')} created {k.get('CreateDate', '')}"
            for k in keys
        )
        return Verified(
            False,
            f"{p['user_name']} has {len(keys)} key(s): {lines or 'none'}. If the newest key is not in "
            f"{p['secret_name']}, it is an orphan: delete it.",
        )

    async def _verify_instance(self, region: str, instance: str) -> Verified:
        try:
            found = await self._read(
                "rds", "describe_db_instances", region, DBInstanceIdentifier=instance
            )
        except AwsCallError as exc:
            return Verified(False, f"{instance}: {exc.code}")
        status = found["DBInstances"][0]["DBInstanceStatus"]
        return Verified(status == "available", f"{instance} is {status}")
