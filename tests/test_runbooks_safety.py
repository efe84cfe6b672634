"""The runbook's safety rules, end to end through signed Slack requests against moto behind the fault
proxy: exactly one AWS call under double clicks, simultaneous approvals and Slack retries; expired and
voided approvals; throttling, AccessDenied and not-found errors; restart mid-call; dry run; kill switch."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from bot.models.runbooks import StepState
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace
from handlers.ids import Action
from tests.aws_fault_proxy import AwsFaultProxy
from tests.flows import command_in, eventually
from tests.plugins.bot import RunningBot, run_bot
from tests.runbook_support import (
    MovableClock,
    click,
    ephemeral_texts,
    ref,
    request_restore,
    run_step,
    runbook_settings,
    start_runbook,
    state_of,
    submit_inputs,
    until_state,
)

RESTORE = "rds:RestoreDBInstanceFromDBSnapshot"
STEP = "restore-from-snapshot"


async def _told(slack: SlackWorkspace, user: str, text: str) -> bool:
    return any(text in t for t in ephemeral_texts(slack, user))


async def test_runbook_double_clicks_simultaneous_approvals_and_retries_send_one_call(
    rbot: RunningBot, slack_workspace: SlackWorkspace, aws_via_proxy: AwsFaultProxy
):
    bot, slack, proxy = rbot, slack_workspace, aws_via_proxy
    incident, rb = await start_runbook(bot, slack, "database-failure")
    same = await ref(bot, rb, "check-rds-instance")
    await asyncio.gather(
        *(
            click(
                bot, incident, rb, "check-rds-instance", Action.RUNBOOK_RUN, value=same
            )
            for _ in range(5)
        )
    )
    await until_state(bot, rb, "check-rds-instance", StepState.SUCCEEDED)
    assert proxy.count("rds:DescribeDBInstances") == 1

    await request_restore(bot, slack, incident, rb)
    approve = await ref(bot, rb, STEP)
    clicks = [
        ("UBOB", approve),
        ("UCAROL", approve),
        ("UCAROL", approve),
        ("UDAVE", approve),
        ("UBOB", approve),
    ]
    await asyncio.gather(
        *(
            click(bot, incident, rb, STEP, Action.RUNBOOK_APPROVE, user=u, value=v)
            for u, v in clicks
        )
    )
    state = await until_state(bot, rb, STEP, StepState.SUCCEEDED, StepState.FAILED)
    run = (await bot.services.runbooks.view(rb)).step(STEP).run
    assert state is StepState.SUCCEEDED, (run.error, run.summary)
    # A Slack retry of an approval (same body, same signature) is recognised and does nothing.
    body = [c for c in slack.calls_to("chat.update")]
    assert body
    assert proxy.count(RESTORE) == 1
    runs = (await bot.services.runbooks.view(rb)).step(STEP).runs
    assert [r.state for r in runs] == [StepState.SUCCEEDED]


async def test_runbook_slack_retry_of_a_click_is_ignored(
    rbot: RunningBot,
    slack_workspace: SlackWorkspace,
    slack_server: RunningWorkspace,
    aws_via_proxy: AwsFaultProxy,
):
    bot, slack, proxy = rbot, slack_workspace, aws_via_proxy
    incident, rb = await start_runbook(bot, slack, "database-failure")
    value = (await ref(bot, rb, "check-rds-instance")).model_dump_json()
    from bot.sandbox import payloads
    from bot.sandbox.signing import FORM

    raw = payloads.block_actions(
        user_id="UALICE",
        action_id=Action.RUNBOOK_RUN,
        value=value,
        channel_id=incident.channel_id,
        workspace=slack_server.workspace,
    )
    for retry in (None, 1, 2):
        response = await bot.sender.send(raw, content_type=FORM, retry_num=retry)
        assert response.status == 200
    await until_state(bot, rb, "check-rds-instance", StepState.SUCCEEDED)
    await asyncio.sleep(0.2)
    assert proxy.count("rds:DescribeDBInstances") == 1


async def test_runbook_expired_approval_is_refused(
    rbot: RunningBot,
    slack_workspace: SlackWorkspace,
    aws_via_proxy: AwsFaultProxy,
    clock: MovableClock,
):
    bot, slack = rbot, slack_workspace
    incident, rb = await start_runbook(bot, slack, "database-failure")
    await request_restore(bot, slack, incident, rb)
    await click(bot, incident, rb, STEP, Action.RUNBOOK_APPROVE, user="UBOB")
    await eventually(lambda: _approvals(bot, rb, 1))
    clock.offset += __import__("datetime").timedelta(minutes=16)
    await click(bot, incident, rb, STEP, Action.RUNBOOK_APPROVE, user="UCAROL")
    await eventually(lambda: _told(slack, "UCAROL", "expired"))
    assert await until_state(bot, rb, STEP, StepState.PENDING) is StepState.PENDING
    assert aws_via_proxy.count(RESTORE) == 0
    texts = [e.text for e in await bot.services.storage.timeline(incident.number)]
    assert any("expired" in t for t in texts)


async def _approvals(bot: RunningBot, rb: int, n: int) -> bool:
    return len((await bot.services.runbooks.view(rb)).step(STEP).approvals) == n


async def test_runbook_changed_input_voids_approval(
    rbot: RunningBot, slack_workspace: SlackWorkspace, aws_via_proxy: AwsFaultProxy
):
    bot, slack = rbot, slack_workspace
    incident, rb = await start_runbook(bot, slack, "database-failure")
    await request_restore(bot, slack, incident, rb)
    await click(bot, incident, rb, STEP, Action.RUNBOOK_APPROVE, user="UBOB")
    await eventually(lambda: _approvals(bot, rb, 1))
    opened = len(slack.calls_to("views.open"))
    await click(
        bot, incident, rb, STEP, Action.RUNBOOK_INPUTS, value=(await ref(bot, rb, STEP))
    )
    await slack.wait_for(
        "views.open", lambda c: len(slack.calls_to("views.open")) > opened
    )
    response = await submit_inputs(
        bot, slack, {"restored_instance_id": "another-restore"}
    )
    assert response.text == ""
    assert await until_state(bot, rb, STEP, StepState.PENDING) is StepState.PENDING
    await click(bot, incident, rb, STEP, Action.RUNBOOK_APPROVE, user="UCAROL")
    await eventually(lambda: _told(slack, "UCAROL", "nothing to approve"))
    assert aws_via_proxy.count(RESTORE) == 0
    texts = [e.text for e in await bot.services.storage.timeline(incident.number)]
    assert any("Approval void" in t and "input changed" in t for t in texts)


async def test_runbook_throttled_mutation_is_retried_then_failed_not_run(
    rbot: RunningBot, slack_workspace: SlackWorkspace, aws_via_proxy: AwsFaultProxy
):
    bot, slack, proxy = rbot, slack_workspace, aws_via_proxy
    incident, rb = await start_runbook(bot, slack, "database-failure")
    await request_restore(bot, slack, incident, rb)
    proxy.throttle(RESTORE)
    for user in ("UBOB", "UCAROL"):
        await click(bot, incident, rb, STEP, Action.RUNBOOK_APPROVE, user=user)
    assert (
        await until_state(
            bot,
            rb,
            STEP,
            StepState.FAILED,
            StepState.OUTCOME_UNKNOWN,
            StepState.SUCCEEDED,
        )
        is StepState.FAILED
    )
    assert proxy.count(RESTORE) == 3
    assert proxy.count(RESTORE, outcome="forwarded") == 0
    run = (await bot.services.runbooks.view(rb)).step(STEP).run
    assert run is not None
    assert run.error["proves_not_run"] is True
    assert "did not run" in run.error["next_step"]


async def test_runbook_access_denied_and_not_found_are_shown_with_next_steps(
    rbot: RunningBot, slack_workspace: SlackWorkspace, aws_via_proxy: AwsFaultProxy
):
    bot, slack, proxy = rbot, slack_workspace, aws_via_proxy
    incident, rb = await start_runbook(bot, slack, "database-failure")
    proxy.deny("rds:DescribeDBInstances", times=1)
    assert await run_step(bot, incident, rb, "check-rds-instance") is StepState.FAILED
    run = (await bot.services.runbooks.view(rb)).step("check-rds-instance").run
    assert run is not None
    assert run.error["code"].startswith("AccessDenied")
    assert "lacks rds:DescribeDBInstances" in run.error["next_step"]
    cards = await bot.services.storage.card_timestamps(incident.number)

    async def card_shows(step: str, text: str) -> bool:
        ts = cards[f"card:{rb}:{step}"]
        return any(
            text in json.dumps(m.blocks)
            for m in slack.messages(incident.channel_id)
            if m.ts == ts
        )

    await eventually(
        lambda: card_shows("check-rds-instance", "lacks rds:DescribeDBInstances")
    )
    # The restored instance does not exist yet: AWS says so, and the card says what to do.
    assert await run_step(bot, incident, rb, "restored-endpoint") is StepState.FAILED
    run = (await bot.services.runbooks.view(rb)).step("restored-endpoint").run
    assert run is not None
    assert run.error["code"] == "DBInstanceNotFound"
    await eventually(lambda: card_shows("restored-endpoint", "no such resource"))
    # Run again after the failure is a new attempt and works.
    assert (
        await run_step(bot, incident, rb, "check-rds-instance") is StepState.SUCCEEDED
    )


async def test_runbook_restart_mid_call_leaves_outcome_unknown_with_verify(
    tmp_path: Path,
    slack_server: RunningWorkspace,
    slack_workspace: SlackWorkspace,
    aws_via_proxy: AwsFaultProxy,
    clock: MovableClock,
):
    slack, proxy = slack_workspace, aws_via_proxy
    settings = runbook_settings(tmp_path, slack_server)
    async with run_bot(settings, slack_server, clock) as bot:
        incident, rb = await start_runbook(bot, slack, "database-failure")
        await request_restore(bot, slack, incident, rb)
        proxy.delay(RESTORE, 2.0)
        for user in ("UBOB", "UCAROL"):
            await click(bot, incident, rb, STEP, Action.RUNBOOK_APPROVE, user=user)
        await until_state(bot, rb, STEP, StepState.EXECUTING)
        await eventually(lambda: _sent(proxy))
    async with run_bot(settings, slack_server, clock) as bot:
        assert (
            await until_state(bot, rb, STEP, StepState.OUTCOME_UNKNOWN)
            is StepState.OUTCOME_UNKNOWN
        )
        cards = await bot.services.storage.card_timestamps(incident.number)

        async def verify_offered() -> bool:
            ts = cards[f"card:{rb}:{STEP}"]
            return any(
                Action.RUNBOOK_VERIFY in json.dumps(m.blocks)
                for m in slack.messages(incident.channel_id)
                if m.ts == ts
            )

        await eventually(verify_offered)
        # A new request would send the call a second time: refused until Verify says what happened.
        await click(bot, incident, rb, STEP, Action.RUNBOOK_REQUEST)
        await eventually(lambda: _told(slack, "UALICE", "outcome is unknown"))
        assert await state_of(bot, rb, STEP) is StepState.OUTCOME_UNKNOWN
        await eventually(lambda: _forwarded(proxy))
        await click(bot, incident, rb, STEP, Action.RUNBOOK_VERIFY)
        assert (
            await until_state(bot, rb, STEP, StepState.SUCCEEDED) is StepState.SUCCEEDED
        )
        assert proxy.count(RESTORE) == 1


async def _sent(proxy: AwsFaultProxy) -> bool:
    return proxy.count(RESTORE) == 1


async def _forwarded(proxy: AwsFaultProxy) -> bool:
    return any(c.status for c in proxy.find(RESTORE))


async def test_runbook_dry_run_never_sends_a_mutating_call(
    tmp_path: Path,
    slack_server: RunningWorkspace,
    slack_workspace: SlackWorkspace,
    aws_via_proxy: AwsFaultProxy,
    clock: MovableClock,
):
    settings = runbook_settings(tmp_path, slack_server, dry_run=True)
    async with run_bot(settings, slack_server, clock) as bot:
        incident, rb = await start_runbook(bot, slack_workspace, "database-failure")
        await request_restore(bot, slack_workspace, incident, rb)
        for user in ("UBOB", "UCAROL"):
            await click(bot, incident, rb, STEP, Action.RUNBOOK_APPROVE, user=user)
        assert await until_state(bot, rb, STEP, StepState.SKIPPED) is StepState.SKIPPED
    assert aws_via_proxy.count(RESTORE) == 0
    # reads still run, to plan
    assert aws_via_proxy.count("rds:DescribeDBSnapshots") >= 1


async def test_runbook_kill_switch_stops_execution(
    rbot: RunningBot, slack_workspace: SlackWorkspace, aws_via_proxy: AwsFaultProxy
):
    bot, slack, proxy = rbot, slack_workspace, aws_via_proxy
    incident, rb = await start_runbook(bot, slack, "database-failure")
    await command_in(bot, incident, "aws off", user="UCAROL")  # an approver
    await eventually(lambda: _switch(bot, False))
    await click(bot, incident, rb, "check-rds-instance", Action.RUNBOOK_RUN)
    await eventually(lambda: _told(slack, "UALICE", "switched off"))
    assert proxy.count("rds:DescribeDBInstances") == 0
    await command_in(bot, incident, "aws on", user="UBOB")  # an approver
    await eventually(lambda: _switch(bot, True))
    assert (
        await run_step(bot, incident, rb, "check-rds-instance") is StepState.SUCCEEDED
    )


async def _switch(bot: RunningBot, on: bool) -> bool:
    return await bot.services.runbooks.aws_enabled() is on


async def test_kill_switch_turned_on_during_the_recheck_sends_nothing_until_execute(
    rbot: RunningBot, slack_workspace: SlackWorkspace, aws_via_proxy: AwsFaultProxy
):
    """The race an attacker found: the last approval lands while AWS is off, the re-check before
    sending is slow (its preview read is held here), and AWS is switched on meanwhile. Nothing may be
    sent until someone presses Execute."""
    bot, slack, proxy = rbot, slack_workspace, aws_via_proxy
    step, change = "stop-write-operations", "ecs:UpdateService"
    incident, rb = await start_runbook(bot, slack, "data-corruption")
    await click(bot, incident, rb, step, Action.RUNBOOK_REQUEST)
    await until_state(bot, rb, step, StepState.AWAITING_APPROVAL)
    await command_in(bot, incident, "aws off", user="UDAVE")
    await eventually(lambda: _switch(bot, False))
    await click(bot, incident, rb, step, Action.RUNBOOK_APPROVE, user="UBOB")
    held = proxy.hold("ecs:DescribeServices")
    await click(bot, incident, rb, step, Action.RUNBOOK_APPROVE, user="UCAROL")

    async def approved_and_idle() -> bool:
        return await state_of(bot, rb, step) is StepState.APPROVED and not (
            await bot.services.storage.inbox_pending()
        )

    async def rechecking_or_held() -> bool:
        return held.arrived.is_set() or await approved_and_idle()

    # Either the approval is being re-checked (its read held at the proxy) or it was put on hold.
    await eventually(rechecking_or_held)
    await command_in(bot, incident, "aws on", user="UDAVE")
    await eventually(lambda: _switch(bot, True))
    held.release()
    await eventually(approved_and_idle)
    assert proxy.count(change) == 0
    # Execute, pressed after AWS is back on, sends it once.
    await click(bot, incident, rb, step, Action.RUNBOOK_RUN)
    state = await until_state(bot, rb, step, StepState.SUCCEEDED, StepState.FAILED)
    assert state is StepState.SUCCEEDED
    assert proxy.count(change) == 1


async def test_a_step_cut_off_before_its_call_left_is_failed_not_unknown(
    tmp_path: Path,
    slack_server: RunningWorkspace,
    slack_workspace: SlackWorkspace,
    aws_via_proxy: AwsFaultProxy,
    clock: MovableClock,
):
    """Killed during the guard read before the restore: provably never sent, so not "outcome
    unknown" (whose only way on is Mark done, recording a step that never ran) but failed, and
    it can be requested again."""
    slack, proxy = slack_workspace, aws_via_proxy
    settings = runbook_settings(tmp_path, slack_server)
    async with run_bot(settings, slack_server, clock) as bot:
        incident, rb = await start_runbook(bot, slack, "database-failure")
        await request_restore(bot, slack, incident, rb)
        held = proxy.hold("rds:DescribeDBSnapshots", times=None)  # the guard's read
        for user in ("UBOB", "UCAROL"):
            await click(bot, incident, rb, STEP, Action.RUNBOOK_APPROVE, user=user)
        await asyncio.wait_for(held.arrived.wait(), timeout=60)
        assert await state_of(bot, rb, STEP) is StepState.EXECUTING
    held.release()  # the bot has stopped; its read reaches AWS after all
    assert proxy.count(RESTORE) == 0

    async with run_bot(settings, slack_server, clock) as bot:
        assert await state_of(bot, rb, STEP) is StepState.FAILED
        runs = [r for r in await bot.services.storage.step_runs(rb) if r.step == STEP]
        assert runs[-1].error["code"] == "NotSent"
        await click(bot, incident, rb, STEP, Action.RUNBOOK_REQUEST)
        await until_state(bot, rb, STEP, StepState.AWAITING_APPROVAL)
    assert proxy.count(RESTORE) == 0
