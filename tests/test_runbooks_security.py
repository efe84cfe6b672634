"""End to end: the security-incident runbook's AWS steps (network ACL deny with a preview, key listing,
key rotation into Secrets Manager, log retention, CloudTrail), and canary secrets that must never reach
a Slack request body, a log line or a database row."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from contextlib import closing

import boto3
import pytest

from bot.models.runbooks import StepState
from bot.sandbox.slack.workspace import SlackWorkspace
from handlers.ids import Action
from tests.aws_fault_proxy import AwsFaultProxy
from tests.flows import eventually
from tests.plugins.bot import RunningBot
from tests.runbook_support import (
    approve_and_wait,
    approved_run,
    click,
    run_step,
    start_runbook,
    submit_inputs,
    until_state,
)

CANARY_KEY = "AKIACANARY0000000042"
CANARY_SECRET = "Canary/Secret+Value0000000000000000000042"
CANARY_TOKEN = "xoxb-111111111-canary-token-42"


def _everything(
    slack: SlackWorkspace, caplog: pytest.LogCaptureFixture, bot: RunningBot
) -> str:
    calls = json.dumps([c.args for c in slack.calls], default=str)
    with closing(sqlite3.connect(bot.settings.database_path)) as db:
        rows = "\n".join(db.iterdump())
    return "\n".join([calls, caplog.text, rows])


async def test_security_incident_steps_run_and_no_secret_leaves(
    rbot: RunningBot,
    slack_workspace: SlackWorkspace,
    aws_via_proxy: AwsFaultProxy,
    estate,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.INFO)
    bot, slack, proxy = rbot, slack_workspace, aws_via_proxy
    incident, rb = await start_runbook(bot, slack, "security-incident")
    assert slack.channels[incident.channel_id].is_private

    # A canary planted in an AWS error message: redacted everywhere.
    proxy.error(
        "iam:ListAccessKeys",
        code="InvalidInput",
        times=1,
        message=f"bad key {CANARY_KEY} secret_access_key={CANARY_SECRET} token {CANARY_TOKEN}",
    )
    assert await run_step(bot, incident, rb, "list-access-keys") is StepState.FAILED
    assert await run_step(bot, incident, rb, "list-access-keys") is StepState.SUCCEEDED

    # Network ACL deny rule: inputs asked in a modal, the preview shows the rule numbers in use.
    await click(bot, incident, rb, "block-suspicious-ips", Action.RUNBOOK_REQUEST)
    await slack.wait_for("views.open", lambda c: "block_cidr" in str(c.args))
    wide = await submit_inputs(
        bot,
        slack,
        {"network_acl_id": estate.network_acl_id, "block_cidr": "10.0.0.0/8"},
    )
    assert "block_cidr" in wide.text
    assert await bot.services.storage.inputs(rb) == {}
    await submit_inputs(
        bot,
        slack,
        {"network_acl_id": estate.network_acl_id, "block_cidr": "203.0.113.0/24"},
    )
    await until_state(bot, rb, "block-suspicious-ips", StepState.AWAITING_APPROVAL)
    run = (await bot.services.runbooks.view(rb)).step("block-suspicious-ips").run
    assert run is not None
    assert run.preview_proposed == 90
    assert isinstance(run.preview_current, list)
    await click(
        bot, incident, rb, "block-suspicious-ips", Action.RUNBOOK_APPROVE, user="UBOB"
    )
    assert (
        await until_state(
            bot, rb, "block-suspicious-ips", StepState.SUCCEEDED, StepState.FAILED
        )
        is StepState.SUCCEEDED
    )
    assert proxy.count("ec2:CreateNetworkAclEntry") == 1

    # Key rotation: one approver; the secret goes to Secrets Manager, only its ARN is posted.
    assert (
        await approved_run(bot, incident, rb, "rotate-api-key", "UCAROL")
        is StepState.SUCCEEDED
    )
    sm = boto3.client(
        "secretsmanager", region_name="us-east-1", endpoint_url=estate.endpoint_url
    )
    stored = json.loads(
        sm.get_secret_value(SecretId="bodyscript/production/api-access-key")[
            "SecretString"
        ]
    )
    arn = sm.describe_secret(SecretId="bodyscript/production/api-access-key")["ARN"]
    run = (await bot.services.runbooks.view(rb)).step("rotate-api-key").run
    assert run is not None
    assert dict(run.result["outputs"])["secret_arn"] == arn
    await slack.wait_for(
        "chat.postMessage",
        lambda c: arn in str(c.args.get("text", "")) and bool(c.args.get("thread_ts")),
    )

    # Deleting the old key (destructive, two approvers): its id is prefilled from the key listing.
    await click(bot, incident, rb, "delete-old-access-key", Action.RUNBOOK_REQUEST)
    form = await slack.wait_for(
        "views.open", lambda c: "old_access_key_id" in str(c.args)
    )
    # the default from list-access-keys
    assert estate.access_key_id in str(form.args["view"])
    await submit_inputs(bot, slack, {})
    await until_state(bot, rb, "delete-old-access-key", StepState.AWAITING_APPROVAL)
    # The approvers see which keys exist and which one goes: ids are identifiers, not secrets.
    run = (await bot.services.runbooks.view(rb)).step("delete-old-access-key").run
    assert run is not None
    assert estate.access_key_id in run.preview_current
    assert run.preview_proposed == estate.access_key_id
    assert "holds: the API user must keep another active key" in run.summary
    assert "NOT" not in run.summary
    await slack.wait_for(
        "chat.update",
        lambda c: (
            "Delete the old access key" in str(c.args.get("blocks"))
            and f"{estate.access_key_id}" in str(c.args.get("blocks"))
            and "[REDACTED]" not in str(c.args.get("blocks"))
        ),
    )
    state = await approve_and_wait(
        bot, incident, rb, "delete-old-access-key", "UBOB", "UDAVE"
    )
    assert state is StepState.SUCCEEDED, (
        (await bot.services.runbooks.view(rb)).step("delete-old-access-key").run
    )
    assert proxy.count("iam:DeleteAccessKey") == 1
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=estate.endpoint_url)
    remaining = await asyncio.to_thread(iam.list_access_keys, UserName="bodyscript-api")
    assert estate.access_key_id not in {
        k["AccessKeyId"] for k in remaining["AccessKeyMetadata"]
    }

    # Destructive with a preview of the current retention; two approvers.
    assert (
        await approved_run(bot, incident, rb, "set-log-retention", "UBOB", "UDAVE")
        is StepState.SUCCEEDED
    )
    assert (
        await approved_run(bot, incident, rb, "start-cloudtrail", "UDAVE")
        is StepState.SUCCEEDED
    )

    async def quiet() -> bool:
        return not (await bot.services.storage.outbox_counts()).get("pending")

    await eventually(quiet)
    everything = _everything(slack, caplog, bot)
    for secret in (
        CANARY_KEY,
        CANARY_SECRET,
        CANARY_TOKEN,
        stored["SecretAccessKey"],
    ):  # the new key's id is not secret (AWS shows it in CloudTrail); later key listings show it
        assert secret not in everything


async def test_key_rotation_that_cannot_store_the_secret_is_outcome_unknown_and_verify_lists_keys(
    rbot: RunningBot,
    slack_workspace: SlackWorkspace,
    aws_via_proxy: AwsFaultProxy,
    estate,
):
    bot, slack, proxy = rbot, slack_workspace, aws_via_proxy
    incident, rb = await start_runbook(bot, slack, "security-incident")
    proxy.fail("secretsmanager:PutSecretValue", status=500)
    proxy.fail("secretsmanager:CreateSecret", status=500)
    state = await approved_run(bot, incident, rb, "rotate-api-key", "UCAROL")
    assert state is StepState.OUTCOME_UNKNOWN
    assert proxy.count("iam:CreateAccessKey") == 1
    await click(bot, incident, rb, "rotate-api-key", Action.RUNBOOK_VERIFY)

    async def listed() -> str:
        run = (await bot.services.runbooks.view(rb)).step("rotate-api-key").run
        return run.summary if run and "key(s)" in run.summary else ""

    summary = await eventually(listed)
    assert "has 2 key(s)" in summary
    assert "orphan" in summary
    assert proxy.count("iam:CreateAccessKey") == 1


def test_iam_policy_command_prints_exactly_the_operations_used(
    capsys: pytest.CaptureFixture[str],
):
    from bot.cli.main import main

    assert (
        main(["iam-policy", "--account", "123456789012", "--region", "us-east-1"]) == 0
    )
    policy = json.loads(capsys.readouterr().out)
    actions = [a for s in policy["Statement"] for a in s["Action"]]
    assert len(actions) == len(set(actions))
    for needed in (
        "rds:RestoreDBInstanceFromDBSnapshot",
        "ecs:UpdateService",
        "iam:CreateAccessKey",
        "secretsmanager:PutSecretValue",
        "ec2:CreateNetworkAclEntry",
        "s3:ListBucket",
    ):
        assert needed in actions
    assert not any(a.endswith(":*") or a == "*" for a in actions)


async def test_deleting_the_only_active_key_is_stopped_by_its_guard_after_approval(
    rbot: RunningBot,
    slack_workspace: SlackWorkspace,
    aws_via_proxy: AwsFaultProxy,
    estate,
):
    bot, slack, proxy = rbot, slack_workspace, aws_via_proxy
    incident, rb = await start_runbook(bot, slack, "security-incident")
    # No rotation first: the key to delete is the API user's only active key.
    await click(bot, incident, rb, "delete-old-access-key", Action.RUNBOOK_REQUEST)
    await slack.wait_for("views.open", lambda c: "old_access_key_id" in str(c.args))
    await submit_inputs(bot, slack, {"old_access_key_id": estate.access_key_id})
    await until_state(bot, rb, "delete-old-access-key", StepState.AWAITING_APPROVAL)
    await slack.wait_for(
        "chat.update",
        lambda c: (
            "Checked just before it is sent: the API user must keep another active key"
            in str(c.args.get("blocks"))
        ),
    )
    # The approvers are told the guard would stop it now; it is checked again after approval.
    requested = (await bot.services.runbooks.view(rb)).step("delete-old-access-key").run
    assert requested is not None
    assert (
        "does NOT hold: the API user must keep another active key" in requested.summary
    )

    state = await approve_and_wait(
        bot, incident, rb, "delete-old-access-key", "UBOB", "UDAVE"
    )

    assert state is StepState.FAILED
    run = (await bot.services.runbooks.view(rb)).step("delete-old-access-key").run
    assert run is not None
    assert run.error["code"] == "GuardFailed"
    assert "another active key" in run.error["message"]
    assert proxy.count("iam:DeleteAccessKey") == 0  # never sent
    assert proxy.count("iam:ListAccessKeys") >= 1  # the guard read fresh state
    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=estate.endpoint_url)
    keys = await asyncio.to_thread(iam.list_access_keys, UserName="bodyscript-api")
    assert estate.access_key_id in {k["AccessKeyId"] for k in keys["AccessKeyMetadata"]}
