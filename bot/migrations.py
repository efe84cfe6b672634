"""The database schema, as sqlite-utils migrations applied at start-up.

One function per schema change, in order; a released migration is never edited, only followed by a
new one, so an older database upgrades itself. Only `bot/storage/base.py` applies them, and it
refuses a database carrying a migration this version does not have (`unknown`): a newer warroom wrote it.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("incident-bot")


def unknown(db: Database) -> list[str]:
    """Names of the migrations applied to `db` that this version does not have; reads only."""
    empty = Database(memory=True)  # on an empty database, every migration is pending
    try:
        known = {m.name for m in migrations.pending(empty)}
    finally:
        empty.close()
    return [m.name for m in migrations.applied(db) if m.name not in known]


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


@migrations()
def m002_runbooks(db: Database) -> None:
    """Runbook instances, their inputs and Slack cards, the step ledger, approvals and switches."""
    db.table("runbooks").create(
        {
            "id": int,
            "incident": int,
            "scenario": str,
            "created_by": str,
            "created_at": str,
            "dry_run": int,
            "message_ts": str,
            "source": str,
        },
        pk="id",
        not_null={"incident", "scenario", "created_at"},
    )
    db.table("runbooks").create_index(["source"], unique=True)
    db.table("runbooks").create_index(["incident"])
    db.table("runbook_inputs").create(
        {"runbook": int, "name": str, "value": str, "set_by": str, "set_at": str},
        pk=("runbook", "name"),
    )
    db.table("runbook_cards").create(
        {"runbook": int, "step": str, "ts": str}, pk=("runbook", "step")
    )
    db.table("step_runs").create(
        {
            "id": int,
            "runbook": int,
            "incident": int,
            "step": str,
            "attempt": int,
            "state": str,
            "requested_by": str,
            "plan": str,
            "plan_hash": str,
            "preview_current": str,
            "preview_proposed": str,
            "required_approvals": int,
            "expires_at": str,
            "result": str,
            "summary": str,
            "error": str,
            "reason": str,
            "dry_run": int,
            "created_at": str,
            "updated_at": str,
            "source": str,
        },
        pk="id",
        not_null={"runbook", "incident", "step", "attempt", "state", "created_at"},
    )
    db.table("step_runs").create_index(
        ["incident", "runbook", "step", "attempt"], unique=True
    )
    db.table("step_runs").create_index(["state"])
    db.table("approvals").create(
        {
            "id": int,
            "step_run": int,
            "user": str,
            "decision": str,
            "plan_hash": str,
            "created_at": str,
            "source": str,
        },
        pk="id",
        not_null={"step_run", "user", "decision", "plan_hash", "created_at"},
    )
    db.table("approvals").create_index(["step_run", "user"], unique=True)
    db.table("switches").create(
        {"name": str, "value": str, "set_by": str, "set_at": str}, pk="name"
    )


@migrations()
def m003_paging(db: Database) -> None:
    """Pages (a durable queue of PagerDuty requests and their outcomes), reminders, webhook deliveries."""
    db.table("pages").create(
        {
            "id": int,
            "incident": int,
            "kind": str,
            "target_kind": str,
            "target_id": str,
            "target_name": str,
            "message": str,
            "requested_by": str,
            "source": str,
            "status": str,
            "attempts": int,
            "pd_incident_id": str,
            "dedup_key": str,
            "html_url": str,
            "result": str,
            "error": str,
            "created_at": str,
            "done_at": str,
        },
        pk="id",
        not_null={"incident", "kind", "source", "status", "created_at"},
        defaults={"status": "pending", "attempts": 0},
    )
    db.table("pages").create_index(["source"], unique=True)
    db.table("pages").create_index(["status"])
    db.table("pages").create_index(["pd_incident_id"])

    db.table("reminders").create(
        {
            "id": int,
            "key": str,
            "kind": str,
            "incident": int,
            "due_at": str,
            "stage": int,
            "data": str,
            "status": str,
            "fired": int,
            "last_fired_at": str,
            "created_at": str,
        },
        pk="id",
        not_null={"key", "kind", "due_at", "status", "created_at"},
        defaults={"status": "active", "stage": 0, "fired": 0},
    )
    db.table("reminders").create_index(["key"], unique=True)
    db.table("reminders").create_index(["status", "due_at"])

    db.table("webhook_deliveries").create(
        {"id": str, "received_at": str}, pk="id", not_null={"received_at"}
    )


@migrations()
def m004_postmortems(db: Database) -> None:
    """Post-mortem drafts built (the documents are files; see Settings.postmortem_dir)."""
    db.table("postmortems").create(
        {
            "id": int,
            "incident": int,
            "format": str,
            "path": str,
            "size": int,
            "sha256": str,
            "head_hash": str,
            "rows": int,
            "chain_ok": int,
            "generated_at": str,
            "trigger": str,
            "requested_by": str,
            "source": str,
            "slack_file_id": str,
            "uploaded_at": str,
            "error": str,
        },
        pk="id",
        not_null={
            "incident",
            "format",
            "path",
            "size",
            "sha256",
            "generated_at",
            "source",
        },
    )
    db.table("postmortems").create_index(["source"], unique=True)
    db.table("postmortems").create_index(["incident"])


@migrations()
def m005_outbox_in_flight(db: Database) -> None:
    """Mark outbox rows whose call was sent but not answered, so a restart can check before re-posting."""
    db.table("outbox").add_column("in_flight", int, not_null_default=0)


@migrations()
def m006_people(db: Database) -> None:
    """Slack user ids and the handles seen with them, so post-mortems can name people."""
    db.table("people").create(
        {"user_id": str, "name": str, "seen_at": str},
        pk="user_id",
        not_null={"name", "seen_at"},
    )


@migrations()
def m007_opened_views(db: Database) -> None:
    """The views (modals) the bot opened: for whom, as which form, by which inbox request.

    A row goes when the inbox row of the request that opened it is pruned (the trigger), so the
    views live exactly as long as the journal does.
    """
    db.table("opened_views").create(
        {
            "id": int,
            "source": str,
            "view_id": str,
            "user_id": str,
            "callback_id": str,
            "opened_at": str,
        },
        pk="id",
        not_null={"source", "view_id", "user_id", "callback_id", "opened_at"},
    )
    db.table("opened_views").create_index(["source"], unique=True)
    db.table("opened_views").create_index(["view_id"], unique=True)
    db.execute(
        "create trigger opened_views_pruned_with_the_journal after delete on inbox"
        " begin delete from opened_views where source = old.key; end"
    )


@migrations()
def m008_incident_bridge(db: Database) -> None:
    """Each incident's own call link, made from `WARROOM_BRIDGE_URL` when it is declared."""
    db.table("incidents").add_column("bridge_url", str)


@migrations()
def m009_subscriptions(db: Database) -> None:
    """Who gets an incident's status updates and resolution by direct message."""
    db.table("subscriptions").create(
        {"incident": int, "user_id": str, "added_by": str, "created_at": str},
        pk=("incident", "user_id"),
        not_null={"added_by", "created_at"},
    )


@migrations()
def m010_alerts(db: Database) -> None:
    """Alerts from PagerDuty and CloudWatch: one row per alert, repeats grouped on it."""
    db.table("alerts").create(
        {
            "id": int,
            "source": str,
            "source_key": str,
            "title": str,
            "service": str,
            "url": str,
            "state": str,
            "first_at": str,
            "last_at": str,
            "cleared_at": str,
            "repeats": int,
            "incident": int,
            "dismissed_by": str,
            "dismissed_reason": str,
        },
        pk="id",
        not_null={"source", "source_key", "title", "state", "first_at", "last_at"},
        defaults={"repeats": 1},
    )
    db.table("alerts").create_index(["source", "source_key"], unique=True)


@migrations()
def m011_followups(db: Database) -> None:
    """Follow-ups (action items): one list per incident, exported to the team's tracker."""
    db.table("followups").create(
        {
            "id": int,
            "incident": int,
            "text": str,
            "kind": str,
            "priority": str,
            "owner": str,
            "due": str,
            "state": str,
            "created_by": str,
            "created_at": str,
            "done_at": str,
            "tracker": str,
            "tracker_key": str,
            "tracker_url": str,
            "reminded_on": str,
            "source": str,
        },
        pk="id",
        not_null={"incident", "text", "priority", "state", "created_by", "created_at"},
    )
    db.table("followups").create_index(["source"], unique=True)
    db.table("followups").create_index(["incident"])


@migrations()
def m012_public_updates(db: Database) -> None:
    """Status updates marked public: what the status page shows, and nothing else."""
    db.table("public_updates").create(
        {
            "id": int,
            "incident": int,
            "status": str,
            "text": str,
            "at": str,
            "actor": str,
            "source": str,
        },
        pk="id",
        not_null={"incident", "status", "text", "at"},
    )
    db.table("public_updates").create_index(["source"], unique=True)
    db.table("public_updates").create_index(["incident"])


@migrations()
def m013_statuspage_mirror(db: Database) -> None:
    """Each incident's copy on Atlassian Statuspage, and the last public update mirrored there."""
    db.table("statuspage_mirror").create(
        {"incident": int, "remote_id": str, "last_update": int},
        pk="incident",
        not_null={"remote_id", "last_update"},
    )
