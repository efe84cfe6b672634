"""The runbook's Slack flow around the AWS calls: manual steps marked done or skipped with a reason,
progress n of m, reject, cancel, the kill switch holding an approved step, `/incident runbook`, and the
Block Kit limits of every scenario's runbook message and step cards."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.models.incidents import Incident
from bot.models.runbooks import Runbook, StepState
from bot.sandbox import payloads
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace
from bot.scenarios.schema import Kind, load_all
from bot.services.runbooks.views import build_view
from handlers.blocks import runbooks as runbook_blocks
from handlers.ids import Action, Callback, Field
from tests.aws_fault_proxy import AwsFaultProxy
from tests.flows import command_in, declare, eventually
from tests.plugins.bot import RunningBot
from tests.runbook_support import (
    click,
    ephemeral_texts,
    request_restore,
    select_step,
    start_runbook,
    state_of,
    until_state,
)

STEP = "restore-from-snapshot"


async def test_runbook_manual_steps_done_and_skipped_update_progress(
    rbot: RunningBot,
    slack_workspace: SlackWorkspace,
    slack_server: RunningWorkspace,
    aws_via_proxy: AwsFaultProxy,
):
    bot, slack = rbot, slack_workspace
    incident, rb = await start_runbook(bot, slack, "database-failure")
    total = len((await bot.services.runbooks.view(rb)).steps)
    await select_step(
        bot,
        slack_server,
        incident,
        rb,
        Action.RUNBOOK_MANUAL_DONE,
        "point-app-to-restored-db",
    )
    assert (
        await until_state(bot, rb, "point-app-to-restored-db", StepState.DONE)
        is StepState.DONE
    )
    opened = len(slack.calls_to("views.open"))
    await select_step(
        bot, slack_server, incident, rb, Action.RUNBOOK_MANUAL_SKIP, "verify-gallery"
    )
    await slack.wait_for(
        "views.open", lambda c: len(slack.calls_to("views.open")) > opened
    )
    view = slack.calls_to("views.open")[-1].response["view"]
    empty = await bot.sender.submit_view(
        callback_id=Callback.RUNBOOK_SKIP,
        view_id=view["id"],
        private_metadata=view["private_metadata"],
        values={Field.SKIP_REASON: {"value": payloads.plain_text_value("")}},
    )
    assert Field.SKIP_REASON in empty.text
    await bot.sender.submit_view(
        callback_id=Callback.RUNBOOK_SKIP,
        view_id=view["id"],
        private_metadata=view["private_metadata"],
        values={
            Field.SKIP_REASON: {
                "value": payloads.plain_text_value("no gallery in this release")
            }
        },
    )
    assert (
        await until_state(bot, rb, "verify-gallery", StepState.SKIPPED)
        is StepState.SKIPPED
    )
    cards = await bot.services.storage.card_timestamps(incident.number)

    async def progress() -> bool:
        overview = next(
            m
            for m in slack.messages(incident.channel_id)
            if m.ts == cards[f"card:{rb}:"]
        )
        return f"*2 of {total}* steps done" in json.dumps(overview.blocks)

    await eventually(progress)
    texts = [e.text for e in await bot.services.storage.timeline(incident.number)]
    assert any("Skipped (no gallery in this release)" in t for t in texts)


async def test_runbook_reject_and_cancel_end_a_request(
    rbot: RunningBot, slack_workspace: SlackWorkspace, aws_via_proxy: AwsFaultProxy
):
    bot, slack, proxy = rbot, slack_workspace, aws_via_proxy
    incident, rb = await start_runbook(bot, slack, "database-failure")
    await request_restore(bot, slack, incident, rb)
    await click(bot, incident, rb, STEP, Action.RUNBOOK_REJECT, user="UBOB")
    assert await until_state(bot, rb, STEP, StepState.PENDING) is StepState.PENDING
    await click(bot, incident, rb, STEP, Action.RUNBOOK_REQUEST)
    await until_state(bot, rb, STEP, StepState.AWAITING_APPROVAL)
    await click(bot, incident, rb, STEP, Action.RUNBOOK_CANCEL)
    assert await until_state(bot, rb, STEP, StepState.PENDING) is StepState.PENDING
    assert [
        r.attempt for r in (await bot.services.runbooks.view(rb)).step(STEP).runs
    ] == [1, 2]
    assert proxy.count("rds:RestoreDBInstanceFromDBSnapshot") == 0


async def test_runbook_kill_switch_holds_an_approved_step_until_executed(
    rbot: RunningBot, slack_workspace: SlackWorkspace, aws_via_proxy: AwsFaultProxy
):
    bot, slack, proxy = rbot, slack_workspace, aws_via_proxy
    incident, rb = await start_runbook(bot, slack, "database-failure")
    await request_restore(bot, slack, incident, rb)
    await command_in(bot, incident, "aws off")  # the commander
    for user in ("UBOB", "UCAROL"):
        await click(bot, incident, rb, STEP, Action.RUNBOOK_APPROVE, user=user)
    assert await until_state(bot, rb, STEP, StepState.APPROVED) is StepState.APPROVED
    await eventually(lambda: _posted(slack, "AWS execution is off: press Execute"))
    assert proxy.count("rds:RestoreDBInstanceFromDBSnapshot") == 0
    # UDAVE is an approver: allowed
    await command_in(bot, incident, "aws off", user="UDAVE")
    # The commander may stop AWS, but only an approver may turn it back on.
    await command_in(bot, incident, "aws on")
    await eventually(lambda: _told(slack, "UALICE", "Only an approver may switch"))
    assert not await bot.services.runbooks.aws_enabled()
    await command_in(bot, incident, "aws on", user="UDAVE")
    await eventually(lambda: bot.services.runbooks.aws_enabled())
    # Turning it on sends nothing by itself: the approved step waits for Execute.
    assert await state_of(bot, rb, STEP) is StepState.APPROVED
    assert proxy.count("rds:RestoreDBInstanceFromDBSnapshot") == 0
    # the card's Execute button
    await click(bot, incident, rb, STEP, Action.RUNBOOK_RUN)
    assert (
        await until_state(bot, rb, STEP, StepState.SUCCEEDED, StepState.FAILED)
        is StepState.SUCCEEDED
    )
    assert proxy.count("rds:RestoreDBInstanceFromDBSnapshot") == 1


async def _told(slack: SlackWorkspace, user: str, text: str) -> bool:
    return any(text in t for t in ephemeral_texts(slack, user))


async def _posted(slack: SlackWorkspace, text: str) -> bool:
    return any(text in str(c.args) for c in slack.calls_to("chat.postMessage"))


async def test_runbook_command_lists_refuses_unknown_and_posts(
    rbot: RunningBot, slack_workspace: SlackWorkspace, aws_via_proxy: AwsFaultProxy
):
    bot, slack = rbot, slack_workspace
    incident = await declare(bot, slack)
    await command_in(bot, incident, "runbook")
    await slack.wait_for(
        "response_url", lambda c: "database-failure" in json.dumps(c.args)
    )
    await command_in(bot, incident, "runbook no-such-thing")
    await eventually(lambda: _told(slack, "UALICE", "No scenario 'no-such-thing'"))
    await command_in(bot, incident, "runbook database-failure")
    await eventually(lambda: bot.services.storage.runbooks_for(incident.number))


@pytest.mark.parametrize(
    "scenario", sorted(k for k, s in load_all().items() if s.kind is not Kind.SHARED)
)
def test_runbook_blocks_stay_within_slack_limits(scenario: str):
    chosen = load_all()[scenario]
    now = datetime.now(UTC)
    incident = Incident(
        number=1,
        title="<!channel> & " + "x" * 300,
        severity="SEV1",
        commander="UALICE",
        channel_name="inc-1",
        declared_by="UALICE",
        declared_at=now,
        channel_id="C1",
    )
    view = build_view(
        runbook=Runbook(
            id=1, incident=1, scenario=scenario, created_by="UALICE", created_at=now
        ),
        scenario=chosen,
        incident=incident,
        stored={},
        runs=[],
        approvals={},
        now=now,
        aws_enabled=False,
        dry_run=True,
    )
    _, blocks = runbook_blocks.runbook_message(view)
    assert len(blocks) <= 50
    cards = [
        runbook_blocks.step_card(view, s.step.id)[1] for s in view.steps if s.actionable
    ]
    for block in [b for card in [blocks, *cards] for b in card]:
        text = (block.get("text") or {}).get("text", "")
        assert len(text) <= 3000
        assert "<!channel>" not in text
    for element in blocks[-1].get("elements", []):
        assert all(len(o["text"]["text"]) <= 75 for o in element.get("options", []))


async def test_runbook_authorisation_is_checked_again_at_execution(
    tmp_path,
    slack_server: RunningWorkspace,
    slack_workspace: SlackWorkspace,
    aws_via_proxy: AwsFaultProxy,
    clock,
):
    from tests.plugins.bot import run_bot
    from tests.runbook_support import runbook_settings

    slack, proxy = slack_workspace, aws_via_proxy
    async with run_bot(
        runbook_settings(tmp_path, slack_server), slack_server, clock
    ) as bot:
        incident, rb = await start_runbook(bot, slack, "database-failure")
        await request_restore(bot, slack, incident, rb)
        await command_in(bot, incident, "aws off")
        for user in ("UBOB", "UCAROL"):
            await click(bot, incident, rb, STEP, Action.RUNBOOK_APPROVE, user=user)
        await until_state(bot, rb, STEP, StepState.APPROVED)
        await command_in(bot, incident, "aws on", user="UBOB")
        await eventually(lambda: bot.services.runbooks.aws_enabled())
    # UCAROL is no longer an approver when the step is finally executed.
    settings = runbook_settings(tmp_path, slack_server, approvers=["UBOB", "UDAVE"])
    async with run_bot(settings, slack_server, clock) as bot:
        await click(bot, incident, rb, STEP, Action.RUNBOOK_RUN)
        assert await until_state(bot, rb, STEP, StepState.PENDING) is StepState.PENDING
        await eventually(lambda: _told(slack, "UALICE", "no longer authorised"))
    assert proxy.count("rds:RestoreDBInstanceFromDBSnapshot") == 0


async def test_runbook_card_shows_a_result_while_the_channels_posts_wait(
    rbot: RunningBot, slack_workspace: SlackWorkspace, aws_via_proxy: AwsFaultProxy
):
    bot, slack = rbot, slack_workspace
    incident, rb = await start_runbook(bot, slack, "database-failure")
    step = "check-rds-instance"

    async def posted() -> str | None:
        cards = await bot.services.storage.card_timestamps(incident.number)
        return cards.get(f"card:{rb}:{step}")

    card = await eventually(posted)
    # Slack refuses every post (as its one-a-second limit does in a busy channel).
    slack.fail("chat.postMessage", "ratelimited", times=10**6, retry_after=1)
    await click(bot, incident, rb, step, Action.RUNBOOK_RUN)
    await slack.wait_for(
        "chat.update",
        lambda c: (
            c.ok and c.args.get("ts") == card and ":white_check_mark:" in str(c.args)
        ),
    )
    assert not [
        c
        for c in slack.calls_to("chat.postMessage")
        if c.ok and c.args.get("thread_ts") == card
    ]  # the result's reply in the card's thread is still waiting
    slack.clear_faults()

    async def replied() -> bool:
        return any(
            m.thread_ts == card for m in slack.messages(incident.channel_id or "")
        )

    await eventually(replied)
