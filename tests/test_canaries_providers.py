"""Canaries planted in what the providers answer never reach a sink: AWS responses through moto (tags
on the RDS instance and its snapshots, an AWS error message, Secrets Manager's description, tags and
value, S3 object metadata and tags, the secret a key rotation creates) and PagerDuty's names (the
acknowledger and who is on call, escalation policies, schedules, services, incident titles in
webhooks), and what the bot sends PagerDuty onward.

The whole incident is played from the outside: runbook steps that read AWS, the key rotation, a page,
an acknowledgement webhook, `/incident oncall`, resolution, the post-mortem draft and both exports.
Then every sink is scanned byte for byte: the SQLite file and its WAL, the Slack stand-in's calls and
uploads, the DEBUG log written through the handler `warroom run` installs, the post-mortem files, both
exports and every request the PagerDuty stand-in received. Identifiers (ARNs, snapshot ids, PagerDuty
ids, secret names, access key ids) stay visible, and PagerDuty's names reach Slack as plain text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import boto3

from bot.cli.main import main, setup_logging
from bot.gateways.aws.gateway import AwsGateway
from bot.models.runbooks import StepState
from bot.redaction import REDACTED
from bot.sandbox import payloads
from bot.sandbox.estate.names import Estate
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace
from handlers.ids import Callback, Field
from tests.aws_fault_proxy import AwsFaultProxy
from tests.flows import command_in, declare, eventually, open_view, parsed_by_slack
from tests.pagerduty_standin import sign_webhook
from tests.plugins.bot import RunningBot, make_settings, run_bot
from tests.plugins.pagerduty import WEBHOOK_SECRET, RunningStandIn, pagerduty_settings
from tests.runbook_support import APPROVERS, approved_run, run_step
from tests.test_canaries import files, leaks, marker, planted, quiet, slack_sinks

HOSTILE = "<!channel> <https://evil.example|click>"


def one_line(code: str) -> dict[str, str]:
    """The kinds that fit where a newline cannot go (an HTTP header, a one-line name)."""
    return {k: v for k, v in planted(code).items() if "\n" not in v}


def with_tagged(code: str, secrets: dict[str, str]) -> dict[str, str]:
    """`secrets` plus two values that look like nothing, but sit under a tag key naming a secret."""
    return {
        **secrets,
        "tag db_password": f"hunter2-{marker(code, 90)}",
        "tag api_token": f"opaque-{marker(code, 91)}",
    }


def joined(secrets: dict[str, str], sep: str = " ") -> str:
    return sep.join(secrets.values())


def aws_tags(secrets: dict[str, str]) -> list[dict[str, str]]:
    """Every secret as the value of a tag; the `tag <key>` ones under that key. One tag is no secret."""
    tags = [
        {"Key": kind[4:] if kind.startswith("tag ") else f"canary-{i}", "Value": v}
        for i, (kind, v) in enumerate(secrets.items())
    ]
    return [*tags, {"Key": "team", "Value": "payments"}]


@contextmanager
def warroom_logging(path: Path) -> Iterator[None]:
    """The log handler `warroom run` installs (`setup_logging`, its redacting filter) at DEBUG, with
    its stream sent to `path` instead of stderr. Restores the root logger afterwards."""
    root, bolt = logging.getLogger(), logging.getLogger("slack_bolt")
    saved = (root.handlers[:], root.level, bolt.level)
    setup_logging("DEBUG")
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    with path.open("a", encoding="utf-8") as stream:
        handler.setStream(stream)
        try:
            yield
        finally:
            handler.flush()
            root.handlers[:] = saved[0]
            root.setLevel(saved[1])
            bolt.setLevel(saved[2])


def plant_pagerduty_names(state: Any, canaries: dict[str, dict[str, str]]) -> None:
    """Rename the Security policy's people, two policies, a schedule and the paged service."""
    for user_id in ("PBOBWIL", "PALICEB"):
        user = state.users[user_id]
        # An address Slack does not know, so the name itself is shown rather than a mention.
        user["email"] = f"{user_id.lower()}@pagerduty-only.example"
        user["name"] = user["summary"] = (
            f"{user_id} {HOSTILE} {joined(canaries['pd user'])}"
        )
    for policy_id in ("PEPSECU", "PEPINFR"):
        policy = state.escalation_policies[policy_id]
        policy["name"] = policy["summary"] = (
            f"{policy_id} {HOSTILE} {joined(canaries['pd policy'])}"
        )
    schedule = state.schedules["PSCSECU"]
    schedule["name"] = schedule["summary"] = (
        f"PSCSECU {HOSTILE} {joined(canaries['pd schedule'])}"
    )
    service = state.services["PSVCAPI"]
    service["name"] = service["summary"] = (
        f"PSVCAPI {HOSTILE} {joined(canaries['pd service'])}"
    )


async def post_webhook(bot: RunningBot, body: bytes) -> int:
    headers = {
        "Content-Type": "application/json",
        "X-PagerDuty-Signature": sign_webhook(WEBHOOK_SECRET, body),
        "X-Webhook-Id": uuid.uuid4().hex,
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{bot.base_url}/pagerduty/webhook", data=body, headers=headers
        ) as response,
    ):
        return response.status


def pagerduty_sink(standin: RunningStandIn) -> bytes:
    """What the bot sent PagerDuty: every request's method, path, query and body."""
    sent = [
        {"method": r.method, "path": r.path, "query": r.query, "json": r.json}
        for r in standin.requests
    ]
    return json.dumps(sent, default=str).encode()


async def runbook_of(bot: RunningBot, number: int, scenario: str) -> int:
    async def posted() -> int | None:
        for book in await bot.services.storage.runbooks_for(number):
            cards = await bot.services.storage.card_timestamps(number)
            if book.scenario == scenario and f"card:{book.id}:" in cards:
                return book.id
        return None

    rb: int = await eventually(posted)
    return rb


async def test_canaries_in_aws_answers_and_pagerduty_names_reach_no_sink(
    tmp_path: Path,
    slack_server: RunningWorkspace,
    slack_workspace: SlackWorkspace,
    pagerduty_standin: RunningStandIn,
    aws_via_proxy: AwsFaultProxy,
    estate: Estate,
):
    slack, pd, proxy = slack_workspace, pagerduty_standin, aws_via_proxy
    canaries = {
        "rds tags": with_tagged("rt", planted("rt")),
        "snapshot tags": with_tagged("st", planted("st")),
        "aws error": planted("ae"),
        "pd user": one_line("pu"),
        "pd policy": one_line("pp"),
        "pd schedule": one_line("ps"),
        "pd service": one_line("pv"),
        "pd incident title": planted("pt"),
        "title": {
            k: v
            for k, v in one_line("ti").items()
            if k in ("slack bot token", "bare aws secret key")  # 150 at most
        },
        "description": planted("de"),
        "page message": one_line("pm"),
        # a target PagerDuty does not know: the error that says so quotes it
        "page target": {"slack bot token": planted("pa")["slack bot token"]},
        "summary": planted("su"),
    }

    # AWS: planted through boto3 against moto, before the bot reads anything.
    rds = boto3.client(
        "rds", region_name=estate.region, endpoint_url=estate.endpoint_url
    )
    rds.add_tags_to_resource(
        ResourceName=estate.db_instance_arn, Tags=aws_tags(canaries["rds tags"])
    )
    for snapshot in estate.snapshots:
        rds.add_tags_to_resource(
            ResourceName=snapshot.arn, Tags=aws_tags(canaries["snapshot tags"])
        )
    plant_pagerduty_names(pd.state, canaries)

    settings = make_settings(
        tmp_path / "warroom.db",
        slack_server,
        approvers=APPROVERS,
        shutdown_drain_seconds=0.5,
        **pagerduty_settings(pd),
    )
    log_file = tmp_path / "warroom.log"
    with warroom_logging(log_file):
        async with run_bot(settings, slack_server) as bot:
            sinks, rotated = await _play(bot, slack, pd, proxy, estate, canaries)
            sinks.update(files(tmp_path))

    # The DEBUG log saw the secrets (Bolt and slack_sdk log bodies) and its filter redacted them.
    assert REDACTED.encode() in sinks["warroom.log"]
    assert any(name.endswith("-wal") for name in sinks)
    assert {"exports/INC-1.md", "exports/INC-1.json"} <= set(sinks)
    found = leaks(sinks, canaries)
    assert not found, json.dumps(found, indent=1)
    # The secret the rotation created went to Secrets Manager and nowhere else.
    assert [name for name, data in sinks.items() if rotated.encode() in data] == []

    # The planted values did reach the bot (so the scan could have found them) ...
    stored = sinks["warroom.db"] + sinks["warroom.db-wal"]
    assert b"payments" in stored  # the RDS tags were read and kept, secrets redacted
    assert b"&lt;!channel&gt;" in sinks["slack calls"]  # PagerDuty's names were shown
    # the title and the page message were sent to PagerDuty, redacted
    assert b"Database down [REDACTED]" in sinks["pagerduty"]
    assert b"[REDACTED] [REDACTED]" in sinks["pagerduty"]
    # ... identifiers stayed visible ...
    assert estate.db_instance_arn.encode() in stored
    assert estate.snapshots[-1].id.encode() in sinks["slack calls"]
    assert b"bodyscript/production/api-access-key" in sinks["slack calls"]
    assert b"PINC001" in sinks["slack calls"]
    assert b"PBOBWIL" in sinks["slack calls"]
    # ... and no PagerDuty name became a mention or a link.
    assert [
        t for t in parsed_by_slack(slack) if "<!channel>" in t or "<https://evil" in t
    ] == []


async def _play(
    bot: RunningBot,
    slack: SlackWorkspace,
    pd: RunningStandIn,
    proxy: AwsFaultProxy,
    estate: Estate,
    canaries: dict[str, dict[str, str]],
) -> tuple[dict[str, bytes], str]:
    """Play the incident; return the sinks that are not files, and the rotated secret key."""
    incident = await declare(
        bot,
        slack,
        title=f"Database down {joined(canaries['title'])}",
        scenario=payloads.static_select_value("database-failure"),
        **{
            Field.DESCRIPTION: payloads.plain_text_value(
                joined(canaries["description"], "\n")
            )
        },
    )
    channel = incident.channel_id
    assert channel
    slack.channels[channel].members.extend(APPROVERS)
    rb = await runbook_of(bot, incident.number, "database-failure")

    # A runbook step that reads AWS: first an error whose message echoes secrets, then the answer
    # with the instance's tags; the snapshots' tags come with the next step.
    proxy.error(
        "rds:DescribeDBInstances",
        code="InvalidParameterValue",
        message=joined(canaries["aws error"], "\n"),
        times=1,
    )
    assert await run_step(bot, incident, rb, "check-rds-instance") is StepState.FAILED
    assert (
        await run_step(bot, incident, rb, "check-rds-instance") is StepState.SUCCEEDED
    )
    assert await run_step(bot, incident, rb, "check-snapshots") is StepState.SUCCEEDED

    # The key rotation (security-incident's runbook in the same incident, one approver).
    await command_in(bot, incident, "runbook security-incident")
    security = await runbook_of(bot, incident.number, "security-incident")
    assert (
        await approved_run(bot, incident, security, "rotate-api-key", "UCAROL")
        is StepState.SUCCEEDED
    )
    sm = boto3.client(
        "secretsmanager", region_name=estate.region, endpoint_url=estate.endpoint_url
    )
    value = sm.get_secret_value(SecretId="bodyscript/production/api-access-key")
    rotated = str(json.loads(value["SecretString"])["SecretAccessKey"])

    # PagerDuty: the declaration paged; the acknowledgement arrives by webhook, the incident's
    # title in it carrying secrets, the acknowledger's name too.
    async def paged() -> str | None:
        rows = await bot.services.storage.pages_of(incident.number)
        return next((r.pd_incident_id for r in rows if r.pd_incident_id), None)

    pd_id = await eventually(paged)
    pd_incident = pd.state.incidents[pd_id]
    pd_incident["title"] = joined(canaries["pd incident title"], "\n")
    pd_incident["summary"] = f"[#1] {pd_incident['title']}"
    body = pd.webhook_body(
        pd_id,
        "incident.acknowledged",
        by_user="PBOBWIL",
        at=datetime.now(UTC).replace(microsecond=0),
    )
    assert await post_webhook(bot, body) == 200
    await slack.wait_for(
        "chat.postMessage", lambda c: "acknowledged by PBOBWIL" in str(c.args)
    )

    # Who is on call (names, policy, schedule from PagerDuty), then a page with a message.
    await command_in(bot, incident, "oncall")
    await slack.wait_for("response_url", lambda c: "On call now" in str(c.args))
    await command_in(bot, incident, f"page PEPINFR {joined(canaries['page message'])}")

    async def responder_requested() -> bool:
        return any(r.path.endswith("/responder_requests") for r in pd.requests)

    await eventually(responder_requested)
    target = canaries["page target"]["slack bot token"]
    await command_in(bot, incident, f"page {target}")
    await slack.wait_for(
        "chat.postEphemeral", lambda c: "No PagerDuty escalation policy" in str(c.args)
    )

    # Resolution: the post-mortem draft is built and uploaded; then both exports.
    view_id = await open_view(bot, slack, "resolve", channel_id=channel)
    await bot.sender.submit_view(
        callback_id=Callback.RESOLVE,
        view_id=view_id,
        private_metadata=slack.views[view_id].payload["private_metadata"],
        values={
            Field.SUMMARY: {
                "value": payloads.plain_text_value(joined(canaries["summary"]))
            },
            Field.ROOT_CAUSE: {"value": payloads.plain_text_value("a bad deploy")},
        },
    )
    drafts = bot.settings.database_path.parent / "postmortems"

    async def drafted() -> list[Path]:
        return sorted(drafts.glob("*.md")) if drafts.exists() else []

    await eventually(drafted)
    exports = bot.settings.database_path.parent / "exports"
    exports.mkdir()
    database = str(bot.settings.database_path)
    for fmt in ("md", "json"):
        out = str(exports / f"INC-1.{fmt}")
        argv = [
            "export",
            "INC-1",
            "--format",
            fmt,
            "--database",
            database,
            "--out",
            out,
        ]
        assert await asyncio.to_thread(main, argv) == 0
    await quiet(bot, slack)
    for handler in logging.getLogger().handlers:
        handler.flush()
    return {**slack_sinks(slack), "pagerduty": pagerduty_sink(pd)}, rotated


async def test_canaries_in_aws_answers_never_leave_the_gateway(
    aws_gateway: AwsGateway, estate: Estate
):
    """Every answer the bot gets from AWS is redacted inside the gateway: Secrets Manager's value,
    description and tags, S3 metadata and tags, a new access key's secret, STS credentials."""
    canaries = {
        "secret description": one_line("sd"),
        "secret value": planted("sv"),
        "secret tags": with_tagged("sg", one_line("sg")),
        "s3 metadata": one_line("sm"),
        # S3 allows ten tags on an object
        "s3 tags": with_tagged("so", dict(list(one_line("so").items())[:7])),
    }
    name = "bodyscript/production/canary"
    sm = boto3.client(
        "secretsmanager", region_name=estate.region, endpoint_url=estate.endpoint_url
    )
    arn = sm.create_secret(
        Name=name,
        Description=joined(canaries["secret description"]),
        SecretString=json.dumps({"note": joined(canaries["secret value"], "\n")}),
        Tags=aws_tags(canaries["secret tags"]),
    )["ARN"]
    s3 = boto3.client("s3", region_name=estate.region, endpoint_url=estate.endpoint_url)
    bucket, key = estate.backup_bucket, estate.backup_keys[-1]
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=b"archive",
        Metadata={
            **{f"note-{i}": v for i, v in enumerate(canaries["s3 metadata"].values())},
            "db-password": f"hunter2-{marker('sm', 90)}",
        },
    )
    canaries["s3 metadata"]["db-password"] = f"hunter2-{marker('sm', 90)}"
    s3.put_object_tagging(
        Bucket=bucket, Key=key, Tagging={"TagSet": aws_tags(canaries["s3 tags"])}
    )

    async def read(service: str, operation: str, **params: Any) -> dict[str, Any]:
        result = await aws_gateway.call(
            service=service,
            operation=operation,
            region=estate.region,
            params=params,
            mutating=False,
        )
        return result.response

    answers = {
        "describe_secret": await read(
            "secretsmanager", "describe_secret", SecretId=name
        ),
        "get_secret_value": await read(
            "secretsmanager", "get_secret_value", SecretId=name
        ),
        "list_secrets": await read("secretsmanager", "list_secrets"),
        "head_object": await read("s3", "head_object", Bucket=bucket, Key=key),
        "get_object_tagging": await read(
            "s3", "get_object_tagging", Bucket=bucket, Key=key
        ),
        "get_session_token": await read("sts", "get_session_token"),
    }
    created = await aws_gateway.call(
        service="iam",
        operation="create_access_key",
        region=estate.region,
        params={"UserName": estate.iam_user},
        mutating=True,
    )
    answers["create_access_key"] = created.response
    sinks = {op: json.dumps(answer).encode() for op, answer in answers.items()}
    found = leaks(sinks, canaries)
    assert not found, json.dumps(found, indent=1)
    new_key = created.response["AccessKey"]
    assert new_key["SecretAccessKey"] == REDACTED
    assert answers["get_session_token"]["Credentials"] == REDACTED
    assert answers["get_secret_value"]["SecretString"] == REDACTED
    # Identifiers stay: the secret's name and ARN, the new key's id, the object's key and ETag.
    for op in ("describe_secret", "get_secret_value"):
        assert (answers[op]["Name"], answers[op]["ARN"]) == (name, arn)
    assert new_key["AccessKeyId"].startswith("AKIA")
    assert new_key["UserName"] == estate.iam_user
    assert {"Key": "team", "Value": "payments"} in answers["get_object_tagging"][
        "TagSet"
    ]
    assert {"Key": "team", "Value": "payments"} in answers["describe_secret"]["Tags"]
