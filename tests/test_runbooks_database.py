"""End to end: the database-failure runbook through signed Slack requests, against moto behind the
fault proxy: read-only checks on a click, inputs in a modal, a destructive restore after two distinct
approvers who are not the requester, then wait and verify. AWS calls are counted at the proxy."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

from bot.models.runbooks import StepState
from bot.sandbox.slack.workspace import SlackWorkspace
from handlers.ids import Action
from tests.aws_fault_proxy import AwsFaultProxy
from tests.flows import eventually
from tests.plugins.bot import RunningBot
from tests.runbook_support import (
    click,
    ephemeral_texts,
    start_runbook,
    submit_inputs,
    until_state,
)


async def test_database_failure_runbook_end_to_end(
    rbot: RunningBot,
    slack_workspace: SlackWorkspace,
    aws_via_proxy: AwsFaultProxy,
    estate,
):
    bot, slack, proxy = rbot, slack_workspace, aws_via_proxy
    incident, rb = await start_runbook(bot, slack, "database-failure")
    channel = slack.messages(incident.channel_id)
    overview = next(
        m for m in channel if m.text.startswith("Runbook: Database failure")
    )
    assert "0 of" in overview.blocks[1]["elements"][0]["text"]

    await click(bot, incident, rb, "check-rds-instance", Action.RUNBOOK_RUN)
    assert (
        await until_state(
            bot, rb, "check-rds-instance", StepState.SUCCEEDED, StepState.FAILED
        )
        is StepState.SUCCEEDED
    )
    await click(bot, incident, rb, "check-snapshots", Action.RUNBOOK_RUN)
    assert (
        await until_state(
            bot, rb, "check-snapshots", StepState.SUCCEEDED, StepState.FAILED
        )
        is StepState.SUCCEEDED
    )
    newest = estate.snapshots[-1].id

    # The chosen snapshot is an input: a modal asks for it, prefilled with the newest one.
    await click(bot, incident, rb, "check-chosen-snapshot", Action.RUNBOOK_RUN)
    await slack.wait_for("views.open", lambda c: "snapshot_id" in json.dumps(c.args))
    bad = await submit_inputs(bot, slack, {"snapshot_id": "not a snapshot!"})
    assert "errors" in bad.text
    assert "snapshot_id" in bad.text
    assert await bot.services.storage.inputs(rb) == {}
    ok = await submit_inputs(bot, slack, {})
    assert ok.text == ""
    assert (
        await until_state(
            bot, rb, "check-chosen-snapshot", StepState.SUCCEEDED, StepState.FAILED
        )
        is StepState.SUCCEEDED
    )
    assert (await bot.services.storage.inputs(rb))["snapshot_id"] == newest

    # The restore is destructive: two approvers, neither the requester.
    await click(bot, incident, rb, "restore-from-snapshot", Action.RUNBOOK_REQUEST)
    assert (
        await until_state(bot, rb, "restore-from-snapshot", StepState.AWAITING_APPROVAL)
        is StepState.AWAITING_APPROVAL
    )
    await click(
        bot,
        incident,
        rb,
        "restore-from-snapshot",
        Action.RUNBOOK_APPROVE,
        user="UALICE",
    )
    await eventually(lambda: _has(slack, "UALICE", "cannot approve"))
    await click(
        bot, incident, rb, "restore-from-snapshot", Action.RUNBOOK_APPROVE, user="UBOB"
    )
    await click(
        bot, incident, rb, "restore-from-snapshot", Action.RUNBOOK_APPROVE, user="UBOB"
    )
    await eventually(lambda: _has(slack, "UBOB", "second, different approver"))
    assert (
        await until_state(bot, rb, "restore-from-snapshot", StepState.AWAITING_APPROVAL)
        is StepState.AWAITING_APPROVAL
    )
    assert proxy.count("rds:RestoreDBInstanceFromDBSnapshot") == 0
    await click(
        bot,
        incident,
        rb,
        "restore-from-snapshot",
        Action.RUNBOOK_APPROVE,
        user="UCAROL",
    )
    assert (
        await until_state(
            bot,
            rb,
            "restore-from-snapshot",
            StepState.SUCCEEDED,
            StepState.FAILED,
            StepState.OUTCOME_UNKNOWN,
        )
        is StepState.SUCCEEDED
    )
    assert proxy.count("rds:RestoreDBInstanceFromDBSnapshot") == 1
    sent = json.loads(
        proxy.find("rds:RestoreDBInstanceFromDBSnapshot")[0].form
        and json.dumps(proxy.find("rds:RestoreDBInstanceFromDBSnapshot")[0].form)
    )
    assert sent["DBSnapshotIdentifier"] == newest
    assert sent["DBInstanceIdentifier"] == "bodyscript-production-restored"

    # The card shows the result and a thread reply carries it; the timeline holds the approvals.
    cards = await bot.services.storage.card_timestamps(incident.number)
    card_ts = cards[f"card:{rb}:restore-from-snapshot"]

    async def card_done() -> bool:
        card = next(m for m in slack.messages(incident.channel_id) if m.ts == card_ts)
        return "succeeded" in json.dumps(
            card.blocks
        ) and "approvals 2 of 2" in json.dumps(card.blocks)

    await eventually(card_done)
    await slack.wait_for(
        "chat.postMessage", lambda c: c.args.get("thread_ts") == card_ts
    )
    texts = [e.text for e in await bot.services.storage.timeline(incident.number)]
    assert any(
        t.startswith("Approval requested for If corruption, restore from snapshot")
        for t in texts
    )
    assert any("(1 of 2)" in t for t in texts)
    assert any("(2 of 2)" in t for t in texts)
    with closing(sqlite3.connect(bot.settings.database_path)) as db:
        rows = db.execute(
            "select state, plan_hash from step_runs where step = 'restore-from-snapshot'"
        ).fetchall()
        approvals = db.execute("select user from approvals order by id").fetchall()
    assert [r[0] for r in rows] == ["succeeded"]
    assert len(rows[0][1]) == 64
    assert approvals == [("UBOB",), ("UCAROL",)]


async def _has(slack: SlackWorkspace, user: str, text: str) -> bool:
    return any(text in t for t in ephemeral_texts(slack, user))
