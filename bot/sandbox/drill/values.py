"""What a drill in the sandbox answers and prints: input values from the seeded estate, and the score.

Owns the mapping from a runbook input (by name, then by type) to a value that exists in BodyScript's
seeded estate, the region rule for the sandbox (the estate has compute and the database only in
us-east-1; the DR region holds backups only), and the text of the recovery score table. The score
itself is the post-mortem's own computation (`postmortem_facts.collect`, read from a snapshot of the
database): nothing is recomputed or overridden here (a dry run restores nothing, so the post-mortem
has no data loss for it, which the table words as not measured). It sends nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.config import Settings
from bot.models.incidents import utcnow
from bot.sandbox.estate.names import ZONE, Estate
from bot.scenarios.schema import Input, InputType
from bot.services.postmortem.facts import TargetResult, collect
from bot.services.postmortem.text import span, verdict
from bot.storage.snapshot import Snapshot

DRILL_CIDR = (
    "203.0.113.0/24"  # TEST-NET-3: documentation addresses, never a real client
)
DR_TARGET = f"dr.{ZONE}"
# Services whose sandbox resources exist only in the estate's primary region.
PRIMARY_ONLY = frozenset(
    {"ecs", "rds", "elbv2", "ec2", "logs", "cloudtrail", "cloudwatch", "secretsmanager"}
)


def by_name(estate: Estate) -> dict[str, str]:
    """Inputs whose sandbox value follows from their name."""
    return {
        "hosted_zone_id": estate.hosted_zone_id,
        "record_name": estate.record_name,
        "dr_target": DR_TARGET,
        "target_group_arn": estate.target_group_arn,
        "network_acl_id": estate.network_acl_id,
        "block_cidr": DRILL_CIDR,
        "old_access_key_id": estate.access_key_id,
        # The newest snapshot's time: moto stamps snapshots with the time of the seed.
        "restore_time": estate.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def by_type(spec: Input, estate: Estate) -> str | None:
    """A sandbox value for an input nobody named above, from its type (None when there is none)."""
    values: dict[InputType, str] = {
        InputType.HOSTED_ZONE_ID: estate.hosted_zone_id,
        InputType.NETWORK_ACL_ID: estate.network_acl_id,
        InputType.SECURITY_GROUP_ID: estate.security_group_id,
        InputType.CIDR: DRILL_CIDR,
        InputType.ACCESS_KEY_ID: estate.access_key_id,
        InputType.SNAPSHOT_ID: estate.snapshots[-1].id,
        InputType.ISO_DATETIME: estate.now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        InputType.TASK_DEFINITION: estate.running_task_definition,
        InputType.REGION: estate.region,
    }
    if spec.type is InputType.DNS_NAME:
        return estate.record_name if "record" in spec.name else DR_TARGET
    if spec.type is InputType.ARN and "target_group" in spec.name:
        return estate.target_group_arn
    return values.get(spec.type)


def sandbox_region(service: str, current: Any, estate: Estate) -> str | None:
    """The region a step must run in on the sandbox, when it is not `current` (else None)."""
    if service in PRIMARY_ONLY and current != estate.region:
        return estate.region
    return None


def missing(error: str) -> bool:
    """Whether an AWS error says a resource does not exist (what a dry run's unsent steps leave)."""
    return any(
        word in error.lower() for word in ("not found", "notfound", "does not exist")
    )


def read_targets(settings: Settings, number: int) -> list[TargetResult]:
    """INC-`number`'s results against its targets, as the post-mortem computes them (blocking)."""
    with Snapshot(settings.database_path) as snap:
        return collect(snap, number, settings=settings, now=utcnow()).targets


def score_table(targets: Sequence[TargetResult], *, dry_run: bool = False) -> list[str]:
    """The drill's score per affected component: RTO target vs recovery, RPO target vs data loss,
    exactly as the post-mortem has them. No data loss is "not measured" in a dry run (nothing was
    restored) and "no restore" otherwise, as the post-mortem draft says; its RPO has no verdict.
    """
    if not targets:
        return ["  (no affected component with a recovery target)"]
    rows = [
        ("Component", "RTO target", "Recovery", "RTO", "RPO target", "Data loss", "RPO")
    ]
    rows += [
        (
            f"{t.name} ({t.component})",
            span(t.rto),
            span(t.recovery),
            verdict(t.rto_met),
            span(t.rpo),
            span(t.data_loss)
            if t.data_loss is not None
            else "not measured"
            if dry_run
            else "no restore",
            verdict(t.rpo_met),
        )
        for t in targets
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  "
        + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
