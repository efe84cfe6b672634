"""Every scenario's AWS steps end to end through signed Slack requests, against the seeded estate on
moto behind the fault proxy (the database and security scenarios have files of their own)."""

from __future__ import annotations

import asyncio

import boto3

from bot.models.runbooks import StepState
from bot.sandbox.slack.workspace import SlackWorkspace
from tests.aws_fault_proxy import AwsFaultProxy
from tests.plugins.bot import RunningBot
from tests.runbook_support import (
    approved_run,
    run_step,
    set_inputs,
    start_runbook,
)

ONE, TWO = ("UBOB",), ("UBOB", "UCAROL")


async def _why(bot: RunningBot, rb: int, step: str) -> object:
    run = (await bot.services.runbooks.view(rb)).step(step).run
    return run and (run.error, run.summary)


async def test_complete_site_outage_steps(
    rbot: RunningBot,
    slack_workspace: SlackWorkspace,
    aws_via_proxy: AwsFaultProxy,
    estate,
):
    bot, slack, proxy = rbot, slack_workspace, aws_via_proxy
    incident, rb = await start_runbook(bot, slack, "complete-site-outage")
    assert (
        await run_step(bot, incident, rb, "running-task-count") is StepState.SUCCEEDED
    ), await _why(bot, rb, "running-task-count")
    # Roll back to the newest ACTIVE revision older than the running one: :41 -> :40.
    assert (
        await approved_run(bot, incident, rb, "rollback-api-service", *ONE)
        is StepState.SUCCEEDED
    ), await _why(bot, rb, "rollback-api-service")
    run = (await bot.services.runbooks.view(rb)).step("rollback-api-service").run
    assert run is not None
    assert (run.preview_current, run.preview_proposed) == (
        "bodyscript-api:41",
        "bodyscript-api:40",
    )
    assert proxy.count("ecs:UpdateService") == 1
    await set_inputs(
        bot,
        slack,
        incident,
        rb,
        "target-health",
        {"target_group_arn": estate.target_group_arn},
    )
    assert await run_step(bot, incident, rb, "target-health") is StepState.SUCCEEDED, (
        await _why(bot, rb, "target-health")
    )
    state = await approved_run(bot, incident, rb, "scale-api-multi-az", *ONE)
    assert state is StepState.SUCCEEDED, await _why(bot, rb, "scale-api-multi-az")
    assert proxy.count("ecs:UpdateService") == 2


async def test_data_corruption_steps(
    rbot: RunningBot,
    slack_workspace: SlackWorkspace,
    aws_via_proxy: AwsFaultProxy,
    estate,
):
    bot, slack, proxy = rbot, slack_workspace, aws_via_proxy
    incident, rb = await start_runbook(bot, slack, "data-corruption")
    state = await approved_run(bot, incident, rb, "stop-write-operations", *TWO)
    assert state is StepState.SUCCEEDED, await _why(bot, rb, "stop-write-operations")
    run = (await bot.services.runbooks.view(rb)).step("stop-write-operations").run
    assert run is not None
    assert str(run.preview_proposed) == "0"
    assert proxy.count("ecs:UpdateService") == 1
    assert (
        await run_step(bot, incident, rb, "check-restore-window") is StepState.SUCCEEDED
    )
    await set_inputs(
        bot,
        slack,
        incident,
        rb,
        "restore-point-in-time",
        {"restore_time": estate.now.strftime("%Y-%m-%dT%H:%M:%SZ")},
    )
    state = await approved_run(bot, incident, rb, "restore-point-in-time", *TWO)
    assert state is StepState.SUCCEEDED, await _why(bot, rb, "restore-point-in-time")
    assert proxy.count("rds:RestoreDBInstanceToPointInTime") == 1


async def test_regional_failure_steps(
    rbot: RunningBot,
    slack_workspace: SlackWorkspace,
    aws_via_proxy: AwsFaultProxy,
    estate,
):
    bot, slack, proxy = rbot, slack_workspace, aws_via_proxy
    incident, rb = await start_runbook(bot, slack, "regional-aws-failure")
    state = await approved_run(bot, incident, rb, "restore-cross-region-backup", *ONE)
    assert state is StepState.SUCCEEDED, await _why(
        bot, rb, "restore-cross-region-backup"
    )
    assert proxy.count("s3:CopyObject") == 3
    # The estate's DR region has the buckets only; run the database steps against us-east-1.
    await set_inputs(bot, slack, incident, rb, "dr-snapshots", {"region": "us-east-1"})
    assert await run_step(bot, incident, rb, "dr-snapshots") is StepState.SUCCEEDED
    await set_inputs(
        bot,
        slack,
        incident,
        rb,
        "check-dr-snapshot",
        {"dr_snapshot_id": estate.snapshots[-1].id},
    )
    assert await run_step(bot, incident, rb, "check-dr-snapshot") is StepState.SUCCEEDED
    assert (
        await approved_run(bot, incident, rb, "restore-dr-database", *TWO)
        is StepState.SUCCEEDED
    ), await _why(bot, rb, "restore-dr-database")
    assert proxy.count("rds:RestoreDBInstanceFromDBSnapshot") == 1
    values = {
        "hosted_zone_id": estate.hosted_zone_id,
        "record_name": estate.record_name,
        "dr_target": "dr.bodyscript.com",
    }
    await set_inputs(bot, slack, incident, rb, "update-route53", values)
    state = await approved_run(bot, incident, rb, "update-route53", *TWO)
    assert state is StepState.SUCCEEDED, await _why(bot, rb, "update-route53")
    assert proxy.count("route53:ChangeResourceRecordSets") == 1
    # its guard read the DR database first
    assert proxy.count("rds:DescribeDBInstances") >= 1
    route53 = boto3.client("route53", region_name="us-east-1")
    # Off the loop: the fault proxy that boto3 is pointed at runs on this event loop.
    listing = await asyncio.to_thread(
        route53.list_resource_record_sets, HostedZoneId=estate.hosted_zone_id
    )
    records = listing["ResourceRecordSets"]
    record = next(
        r for r in records if r["Name"].rstrip(".") == estate.record_name.rstrip(".")
    )
    assert "dr.bodyscript.com" in str(record)


async def test_regional_dns_switch_is_not_sent_before_the_dr_database_exists(
    rbot: RunningBot,
    slack_workspace: SlackWorkspace,
    aws_via_proxy: AwsFaultProxy,
    estate,
):
    bot, slack, proxy = rbot, slack_workspace, aws_via_proxy
    incident, rb = await start_runbook(bot, slack, "regional-aws-failure")
    values = {
        "region": "us-east-1",
        "hosted_zone_id": estate.hosted_zone_id,
        "record_name": estate.record_name,
        "dr_target": "dr.bodyscript.com",
    }
    await set_inputs(bot, slack, incident, rb, "update-route53", values)

    state = await approved_run(bot, incident, rb, "update-route53", *TWO)

    assert state is StepState.FAILED
    run = (await bot.services.runbooks.view(rb)).step("update-route53").run
    assert run is not None
    assert run.error["code"] == "GuardFailed"
    assert "DR database must be available" in run.summary
    assert proxy.count("route53:ChangeResourceRecordSets") == 0


async def test_daily_backup_checks_run_as_a_routine_runbook(
    rbot: RunningBot, slack_workspace: SlackWorkspace, aws_via_proxy: AwsFaultProxy
):
    from tests.flows import command_in, declare, eventually

    bot, slack = rbot, slack_workspace
    incident = await declare(bot, slack, title="Daily backup verification")
    await command_in(bot, incident, "runbook daily-backup-checks")

    async def started() -> int | None:
        books = await bot.services.storage.runbooks_for(incident.number)
        cards = await bot.services.storage.card_timestamps(incident.number)
        return (
            books[0].id
            if books and f"card:{books[0].id}:verify-backup-creation" in cards
            else None
        )

    rb = await eventually(started)
    for step in (
        "verify-backup-creation",
        "check-backup-integrity",
        "verify-cross-region-replication",
    ):
        assert await run_step(bot, incident, rb, step) is StepState.SUCCEEDED, (
            await _why(bot, rb, step)
        )
