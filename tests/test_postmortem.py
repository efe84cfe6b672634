"""The post-mortem draft of a complete incident, rendered to Markdown and JSON against golden files.

The incident is driven through signed requests (declare, notes, status, severity, roles, a message,
a pin and a :pushpin:, resolve); pages, the PagerDuty acknowledgement and the runbook ledger (steps,
approvals, a restore) are stored through the storage layer those parts use, so the golden file does
not move with their Slack wording. Times come from an injected clock. Set UPDATE_GOLDEN=1 to rewrite
the golden files after an intended change, and review the diff.
"""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.cli.main import main
from bot.models.incidents import Incident, NewEntry
from bot.models.runbooks import Plan, StepState
from bot.sandbox import payloads
from bot.sandbox.slack.workspace import SlackWorkspace
from bot.services.postmortem.service import export_to
from handlers.ids import Callback, Field
from tests.flows import command_in, declare, eventually, open_view
from tests.plugins.bot import RunningBot, make_settings, run_bot

GOLDEN = Path(__file__).parent / "golden"
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


class ManualClock:
    """The bot's clock, moved by the test: every time the bot records is one the test chose."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, minutes: float) -> datetime:
        self.now = T0 + timedelta(minutes=minutes)
        return self.now


def _pinned_ts(body: dict[str, Any], real: str, fixed: str) -> dict[str, Any]:
    """The stand-in stamps messages with the wall clock; pin the ts so the chain is deterministic."""
    return json.loads(json.dumps(body).replace(real, fixed))


async def _rows(bot: RunningBot, incident: Incident, kind: str, count: int = 1) -> None:
    """Wait until the timeline holds `count` entries of `kind` (requests are handled after the ack)."""

    async def enough() -> bool:
        entries = await bot.services.storage.timeline(incident.number)
        return sum(e.kind == kind for e in entries) >= count

    await eventually(enough)


async def complete_incident(
    bot: RunningBot, slack: SlackWorkspace, clock: ManualClock
) -> Incident:
    """Declare, page, acknowledge, run approved steps with a restore, verify, pin, resolve."""
    clock.at(0)
    incident = await declare(
        bot,
        slack,
        title="Database connection errors",
        severity="SEV2",
        components=payloads.multi_static_select_value(["database", "api"]),
        impact_started_at=payloads.datetimepicker_value(
            int((T0 - timedelta(minutes=12)).timestamp())
        ),
        description=payloads.plain_text_value(
            "API returns 500s: the primary database refuses connections"
        ),
    )
    storage, n = bot.services.storage, incident.number
    await _rows(bot, incident, "role")
    clock.at(1)
    await storage.append(
        n,
        [
            NewEntry(
                kind="page",
                actor="UALICE",
                text="Paged DevOps on-call (escalation policy PDEVOPS)",
                data={
                    "page": "page",
                    "target_kind": "escalation_policy",
                    "target": "PDEVOPS",
                    "mode": "rest",
                    "delivered": True,
                    "pd_incident_id": "Q1ABC",
                },
                source="golden:page",
            )
        ],
        now=clock(),
    )
    clock.at(4)
    await storage.append(
        n,
        [
            NewEntry(
                kind="pd_acknowledged",
                text="PagerDuty incident Q1ABC acknowledged by Dana Ops",
                key_event=True,
                data={"pd_incident_id": "Q1ABC", "by": "Dana Ops", "via": "poll"},
                source="golden:ack",
            )
        ],
        now=clock(),
    )
    await storage.update_incident(n, acknowledged_at=clock())
    clock.at(5)
    await command_in(bot, incident, "assign operations <@UBOB|bob>")
    await _rows(bot, incident, "role", 2)
    await command_in(bot, incident, "note replica lag 40s; primary disk at 100%")
    await _rows(bot, incident, "note")
    clock.at(6)
    message = slack.user_message(
        incident.channel_id or "",
        "UCAROL",
        "Disk full on db-primary, restoring from snapshot",
    )
    real = message["event"]["ts"]
    fixed = f"{int(clock().timestamp())}.000100"
    assert (await bot.sender.event(_pinned_ts(message, real, fixed))).status == 200
    await _rows(bot, incident, "message")
    clock.at(7)
    pin = slack.user_pin(incident.channel_id or "", real, "UALICE")
    assert (await bot.sender.event(_pinned_ts(pin, real, fixed))).status == 200
    await _rows(bot, incident, "pin")
    react = slack.user_react(incident.channel_id or "", real, "UBOB", "pushpin")
    assert (await bot.sender.event(_pinned_ts(react, real, fixed))).status == 200
    await _rows(bot, incident, "pushpin")
    clock.at(8)
    await command_in(bot, incident, "status identified")
    await _rows(bot, incident, "status")
    await _ledger(bot, incident, clock)
    clock.at(31)
    await command_in(bot, incident, "status monitoring")
    await _rows(bot, incident, "status", 2)
    await command_in(bot, incident, "severity SEV1")
    await _rows(bot, incident, "severity")
    clock.at(45)
    view_id = await open_view(bot, slack, "resolve", channel_id=incident.channel_id)
    response = await bot.sender.submit_view(
        callback_id=Callback.RESOLVE,
        view_id=view_id,
        private_metadata=slack.views[view_id].payload["private_metadata"],
        values={
            Field.SUMMARY: {
                "value": payloads.plain_text_value(
                    "Restored the database from the 09:30 snapshot"
                )
            },
            Field.ROOT_CAUSE: {
                "value": payloads.plain_text_value("Primary disk filled with WAL files")
            },
        },
    )
    assert response.status == 200
    await _rows(bot, incident, "resolved")
    return await bot.services.incidents.get(n)


async def _ledger(bot: RunningBot, incident: Incident, clock: ManualClock) -> None:
    """Runbook steps as the runbook service records them: a read, an approved restore, a checklist item."""
    storage, n = bot.services.storage, incident.number
    runbook, _ = await storage.create_runbook(
        incident=n,
        scenario="database-failure",
        created_by="UALICE",
        dry_run=False,
        now=clock.at(9),
        source="golden:runbook",
    )
    check = await storage.insert_step_run(
        runbook=runbook.id,
        incident=n,
        step="check-rds-instance",
        attempt=1,
        state=StepState.EXECUTING,
        now=clock.at(9),
        source="golden:s1",
        requested_by="UBOB",
        plan=Plan(
            kind="aws",
            service="rds",
            operation="describe_db_instances",
            region="us-east-1",
            params={"DBInstanceIdentifier": "bodyscript-production"},
        ),
    )
    assert check is not None
    await storage.transition(
        check.id,
        from_states={StepState.EXECUTING},
        to=StepState.SUCCEEDED,
        now=clock.at(9.5),
        summary="bodyscript-production is storage-full",
        result={"request_id": "req-describe-1"},
    )
    restore = await storage.insert_step_run(
        runbook=runbook.id,
        incident=n,
        step="restore-from-snapshot",
        attempt=1,
        state=StepState.AWAITING_APPROVAL,
        now=clock.at(10),
        source="golden:s2",
        requested_by="UBOB",
        required_approvals=2,
        plan=Plan(
            kind="aws",
            service="rds",
            operation="restore_db_instance_from_db_snapshot",
            region="us-east-1",
            params={
                "DBInstanceIdentifier": "bodyscript-restored",
                "DBSnapshotIdentifier": "rds:bodyscript-0930",
            },
        ),
    )
    assert restore is not None
    for user, minute in (("UALICE", 14), ("UCAROL", 16)):
        await storage.add_approval(
            run_id=restore.id,
            user=user,
            decision="approve",
            plan_hash="h",
            now=clock.at(minute),
            source=f"golden:a:{user}",
        )
    await storage.transition(
        restore.id,
        from_states={StepState.AWAITING_APPROVAL},
        to=StepState.EXECUTING,
        now=clock(),
    )
    await storage.transition(
        restore.id,
        from_states={StepState.EXECUTING},
        to=StepState.SUCCEEDED,
        now=clock.at(28),
        summary="bodyscript-restored is available",
        result={
            "restore_point": "2026-01-05T09:30:00+00:00",
            "response": {"ResponseMetadata": {"RequestId": "req-restore-7"}},
        },
    )
    done = await storage.insert_step_run(
        runbook=runbook.id,
        incident=n,
        step="verify-frontend-loads",
        attempt=1,
        state=StepState.DONE,
        now=clock.at(30),
        source="golden:s3",
        requested_by="UCAROL",
        summary="home page 200 in 0.8s",
    )
    assert done is not None


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} differs; UPDATE_GOLDEN=1 rewrites it"
    )


async def test_postmortem_of_a_complete_incident_matches_golden_markdown_and_json(
    tmp_path, slack_server, slack_workspace
):
    clock = ManualClock(T0)
    settings = make_settings(tmp_path / "warroom.db", slack_server)
    async with run_bot(settings, slack_server, clock) as bot:
        incident = await complete_incident(bot, slack_workspace, clock)
        await bot.services.postmortems.wait_idle()
    generated = T0 + timedelta(hours=1)
    texts = {}
    for fmt in ("md", "json"):
        out = io.StringIO()
        report = export_to(
            out,
            database=settings.database_path,
            number=incident.number,
            fmt=fmt,
            settings=settings,
            now=generated,
        )
        assert report.ok
        texts[fmt] = out.getvalue()
    _check_golden("postmortem-complete.md", texts["md"])
    _check_golden("postmortem-complete.json", texts["json"])
    # WARROOM_TIMEZONE: the draft's times in that zone, the chained appendix as stored (UTC).
    berlin = io.StringIO()
    export_to(
        berlin,
        database=settings.database_path,
        number=incident.number,
        fmt="md",
        settings=settings.model_copy(update={"timezone": "Europe/Berlin"}),
        now=generated,
    )
    local = berlin.getvalue()
    assert "| Milestone | Time (Europe/Berlin) |" in local
    assert "| Declared | 2026-01-05 11:00:00 |" in local  # 10:00 UTC
    assert "written by warroom at 2026-01-05 12:00:00 Europe/Berlin" in local
    assert "| Occurred (UTC) | Recorded (UTC) |" in local
    document = json.loads(texts["json"])
    assert document["chain"]["verified"] is True
    assert document["people"] == {"UALICE": "alice", "UBOB": "bob", "UCAROL": "carol"}
    # alice's handle came with her own commands; bob and carol, seen only on the timeline, were looked up once
    looked_up = sorted(
        c.args.get("user") for c in slack_workspace.calls_to("users.info")
    )
    assert looked_up == ["UBOB", "UCAROL"]
    assert document["durations_s"] == {
        "time_to_detect": None,  # declared by hand, not from an alert
        "time_to_declare": 12 * 60.0,  # from impact start (09:48) to the declaration
        "time_to_acknowledge": 240.0,
        "time_to_mitigate": 43 * 60.0,
        "time_to_resolve": 57 * 60.0,
    }
    database = next(
        o for o in document["recovery_objectives"] if o["component"] == "database"
    )
    assert (database["recovery_s"], database["rto_met"]) == (
        43 * 60.0,
        False,
    )  # RTO 30 min: missed
    assert (database["data_loss_s"], database["rpo_met"]) == (
        18 * 60.0,
        False,
    )  # 09:48 - 09:30 > RPO 15 min
    restore = next(
        s for s in document["runbook_steps"] if s["step"] == "restore-from-snapshot"
    )
    assert restore["approvers"] == ["UALICE", "UCAROL"]
    assert (
        restore["approval_wait_s"],
        restore["run_time_s"],
        restore["request_id"],
    ) == (360.0, 720.0, "req-restore-7")
    assert len(document["timeline"]) == document["chain"]["rows"]
    cli_out = tmp_path / "cli.md"
    assert (
        main(
            [
                "export",
                incident.key,
                "--database",
                str(settings.database_path),
                "--out",
                str(cli_out),
            ]
        )
        == 0
    )
    # the same, but for the time written
    assert cli_out.read_text().split("\n", 3)[3] == texts["md"].split("\n", 3)[3]


def test_stats_text_says_how_to_read_its_columns():
    # Issue 14: `— (0)` and `7s (1)` were printed with no legend.
    from bot.services.postmortem.stats import Group, Stats, stats_text

    waiting = Group("SEV1", incidents=1, acknowledge=[timedelta(seconds=7)])
    stats = Stats(since=None, total=1, by_severity={"SEV1": waiting})
    stats.by_scenario = {"none": waiting}
    lines = stats_text(stats).splitlines()
    sev1 = next(line for line in lines if line.startswith("SEV1"))
    assert sev1.split() == ["SEV1", "1", "0", "7s", "(1)", "—", "—"]
    assert "— (0)" not in "\n".join(lines)
    assert lines[-2].startswith(
        "Mean to acknowledge / resolve: the mean over the incidents that have that time,"
        " how many in brackets (— when none has it yet)."
    )
    assert lines[-1].startswith(
        "RTO met: affected components mitigated within their RTO"
    )


def test_a_restore_point_after_impact_start_is_flagged_not_called_met():
    from io import StringIO

    from bot.services.postmortem.facts import Facts, TargetResult
    from bot.services.postmortem.markdown_draft import _times

    start = datetime(2026, 1, 5, 9, 48, tzinfo=UTC)
    incident = Incident(
        number=1,
        title="Corrupted orders",
        severity="SEV1",
        commander="UALICE",
        channel_name="inc-1",
        declared_by="UALICE",
        declared_at=start + timedelta(minutes=12),
        impact_started_at=start,
    )
    late = TargetResult(
        "database",
        "Database",
        timedelta(minutes=30),
        timedelta(minutes=40),
        timedelta(minutes=15),
        timedelta(0),  # restored to after impact start: "no data lost" would be a lie
        start + timedelta(minutes=5),
        "Restore from snapshot",
    )
    facts = Facts(
        incident, start, 0, None, {}, {"time_to_detect": None}, targets=[late]
    )
    out = StringIO()
    _times(out, facts)
    text = out.getvalue()
    assert "| 0s | check |" in text
    assert (
        "**Warning (Database):** restored to 2026-01-05 09:53:00, impact started 2026-01-05 09:48:00"
        in text
    )
    early = TargetResult(
        *[*vars(late).values()][:6], start - timedelta(minutes=5), "Restore"
    )
    facts.targets = [early]
    out = StringIO()
    _times(out, facts)
    assert "Warning" not in out.getvalue()
