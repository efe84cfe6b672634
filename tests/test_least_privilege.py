"""A step acts only on what the scenario says it may: an ARN input must name the bot's own AWS
account (read from STS), and the key rotation writes only secrets under its declared prefix."""

from __future__ import annotations

import json

import pytest

from bot.errors import UsageError
from bot.models.runbooks import StepState
from bot.sandbox.slack.workspace import SlackWorkspace
from bot.scenarios.schema import load_all, validate_input
from handlers.ids import Action
from tests.aws_fault_proxy import AwsFaultProxy
from tests.flows import eventually
from tests.plugins.bot import RunningBot
from tests.runbook_support import click, start_runbook, submit_inputs, until_state

MOTO_ACCOUNT = "123456789012"


async def test_an_arn_input_of_another_account_is_refused(
    rbot: RunningBot,
    slack_workspace: SlackWorkspace,
    aws_via_proxy: AwsFaultProxy,
    estate,
):
    bot, slack = rbot, slack_workspace
    incident, rb = await start_runbook(bot, slack, "database-failure")
    await click(bot, incident, rb, "check-chosen-snapshot", Action.RUNBOOK_RUN)
    await slack.wait_for("views.open", lambda c: "snapshot_id" in json.dumps(c.args))
    name = estate.snapshots[-1].id
    foreign = f"arn:aws:rds:us-east-1:999999999999:snapshot:{name}"
    await submit_inputs(bot, slack, {"snapshot_id": foreign})

    async def told() -> bool:
        # The account is checked after the form closes (it asks STS): the answer comes privately.
        return any(
            "account 999999999999" in str(c.args) and MOTO_ACCOUNT in str(c.args)
            for c in slack.calls
            if c.method in ("chat.postEphemeral", "chat.postMessage")
        )

    await eventually(told)
    assert await bot.services.storage.inputs(rb) == {}
    own = f"arn:aws:rds:us-east-1:{MOTO_ACCOUNT}:snapshot:{name}"
    accepted = await submit_inputs(bot, slack, {"snapshot_id": own})
    assert accepted.text == ""
    assert (await bot.services.storage.inputs(rb))["snapshot_id"] == own
    await until_state(
        bot, rb, "check-chosen-snapshot", StepState.SUCCEEDED, StepState.FAILED
    )


@pytest.mark.parametrize(
    "secret",
    [
        "other-app/db-password",
        "bodyscript/staging/api-access-key",
        "bodyscript/production/",
    ],
)
def test_the_key_rotation_writes_only_secrets_under_its_prefix(secret: str) -> None:
    spec = load_all()["security-incident"].input("secret_name")
    with pytest.raises(UsageError, match="under bodyscript/production/"):
        validate_input(spec, secret)
    assert validate_input(spec, "bodyscript/production/api-access-key-2")
