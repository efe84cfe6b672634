"""The database schema, as sqlite-utils migrations applied at start-up.

One function per schema change, in order; a released migration is never edited, only followed by a
new one, so an older database upgrades itself. Only `bot/storage.py` applies them.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("incident-bot")


@migrations()
def m001_core(db: Database) -> None:
    """Incidents, the hash-chained timeline, the inbox/outbox journal and the run lease."""
    db.table("incidents").create(
        {
            "number": int,
            "title": str,
            "severity": str,
            "status": str,
            "scenario": str,
            "components": str,
            "description": str,
            "commander": str,
            "roles": str,
            "channel_id": str,
            "channel_name": str,
            "card_ts": str,
            "declared_by": str,
            "declared_at": str,
            "impact_started_at": str,
            "acknowledged_at": str,
            "mitigated_at": str,
            "resolved_at": str,
            "summary": str,
            "private": int,
            "drill": int,
            "source": str,
        },
        pk="number",
        not_null={
            "title",
            "severity",
            "status",
            "commander",
            "channel_name",
            "declared_at",
        },
    )
    db.table("incidents").create_index(["source"], unique=True)
    db.table("incidents").create_index(["channel_id"])

    db.table("timeline").create(
        {
            "id": int,
            "incident": int,
            "seq": int,
            "kind": str,
            "actor": str,
            "text": str,
            "data": str,
            "occurred_at": str,
            "recorded_at": str,
            "slack_ts": str,
            "permalink": str,
            "key_event": int,
            "corrects": int,
            "source": str,
            "prev_hash": str,
            "hash": str,
        },
        pk="id",
        not_null={
            "incident",
            "seq",
            "kind",
            "occurred_at",
            "recorded_at",
            "prev_hash",
            "hash",
        },
    )
    db.table("timeline").create_index(["incident", "seq"], unique=True)
    db.table("timeline").create_index(["incident", "source"], unique=True)

    db.table("inbox").create(
        {
            "id": int,
            "key": str,
            "kind": str,
            "body": str,
            "received_at": str,
            "status": str,
            "attempts": int,
            "error": str,
            "done_at": str,
        },
        pk="id",
        not_null={"key", "kind", "body", "received_at", "status"},
        defaults={"status": "pending", "attempts": 0},
    )
    db.table("inbox").create_index(["key"], unique=True)
    db.table("inbox").create_index(["status"])

    db.table("outbox").create(
        {
            "id": int,
            "channel_key": str,
            "method": str,
            "args": str,
            "dedup_key": str,
            "incident": int,
            "purpose": str,
            "status": str,
            "attempts": int,
            "not_before": str,
            "created_at": str,
            "sent_at": str,
            "error": str,
            "result": str,
        },
        pk="id",
        not_null={"channel_key", "method", "args", "dedup_key", "status", "created_at"},
        defaults={"status": "pending", "attempts": 0},
    )
    db.table("outbox").create_index(["dedup_key"], unique=True)
    db.table("outbox").create_index(["status", "channel_key", "id"])

    db.table("leases").create(
        {"name": str, "owner": str, "heartbeat_at": str}, pk="name", not_null={"owner"}
    )
