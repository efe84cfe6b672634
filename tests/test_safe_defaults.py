"""Settings that would leave the bot open fail closed or are named: with no approvers configured no
AWS change can be requested (the message names the setting), and `warroom check` warns about them."""

from __future__ import annotations

import os

from bot.models.runbooks import StepState
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace
from handlers.ids import Action
from tests.aws_fault_proxy import AwsFaultProxy
from tests.flows import eventually
from tests.plugins.bot import FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET, run_bot
from tests.runbook_support import (
    click,
    ephemeral_texts,
    runbook_settings,
    start_runbook,
    state_of,
)
from tests.test_process import warroom_cli


async def test_with_no_approvers_an_aws_change_is_refused_and_names_the_setting(
    tmp_path,
    slack_server: RunningWorkspace,
    slack_workspace: SlackWorkspace,
    aws_via_proxy: AwsFaultProxy,
    clock,
):
    settings = runbook_settings(tmp_path, slack_server, approvers=[])
    async with run_bot(settings, slack_server, clock) as bot:
        incident, rb = await start_runbook(bot, slack_workspace, "data-corruption")
        step = "stop-write-operations"
        await click(bot, incident, rb, step, Action.RUNBOOK_REQUEST)

        async def refused() -> bool:
            return any(
                "set WARROOM_APPROVERS" in t
                for t in ephemeral_texts(slack_workspace, "UALICE")
            )

        await eventually(refused)
        assert await state_of(bot, rb, step) is StepState.PENDING
        assert not await bot.services.authoriser.is_approver("UBOB")
    assert aws_via_proxy.count("ecs:DescribeServices") == 0


def test_check_warns_about_settings_that_leave_the_bot_open():
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WARROOM_"))
    }
    env.update(SLACK_BOT_TOKEN=FAKE_BOT_TOKEN, SLACK_SIGNING_SECRET=FAKE_SIGNING_SECRET)
    result = warroom_cli("check", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning: WARROOM_RESPONDERS is empty" in result.stdout
    assert "warning: WARROOM_APPROVERS is empty" in result.stdout
    env.update(WARROOM_RESPONDERS='["S0RESPOND"]', WARROOM_APPROVERS='["UBOB"]')
    result = warroom_cli("check", env=env)
    assert "warning" not in result.stdout, result.stdout
