"""Alert intake, end to end: PagerDuty v3 webhooks for incidents the bot did not open and CloudWatch
alarms through SNS (signed by a local CA's certificate) become one post in the announcement channel;
repeats are grouped on it, a resolution clears it, and a bad signature records nothing. Signed HTTP to the real bot; assertions on the Slack stand-in and SQLite."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.models.alerts import AlertState
from bot.sandbox import payloads
from bot.sandbox.slack.workspace import (
    INCIDENT_RESPONSE_CHANNEL_ID,
    RunningWorkspace,
    SlackWorkspace,
)
from handlers.ids import Action, Callback, Field
from tests.flows import declare_values, eventually, resolve
from tests.pagerduty_standin import ROUTING_KEY
from tests.plugins.bot import RunningBot, make_settings, run_bot
from tests.plugins.pagerduty import WEBHOOK_SECRET, pagerduty_settings
from tests.plugins.sns import LOCAL, TOPIC, SnsHost
from tests.test_pages_sync import _post_webhook
from tests.test_sns import alarm as sns_alarm

AT = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)


def pd_event(event_type: str, at: datetime, *, pd_id: str = "PALERT1") -> bytes:
    """A v3 webhook body for a PagerDuty incident opened by an integration, not by the bot."""
    incident = {
        "id": pd_id,
        "type": "incident",
        "self": f"https://api.pagerduty.com/incidents/{pd_id}",
        "html_url": f"https://bodyscript.pagerduty.com/incidents/{pd_id}",
        "number": 42,
        "status": "triggered" if event_type == "incident.triggered" else "resolved",
        "incident_key": "cloudwatch-bodyscript-api-5xx",
        "created_at": "2026-12-04T03:00:00Z",
        "title": "API 5xx rate above 5% <!channel> xoxb-1234567890-0987654321-abcdefghijABCDEFGHIJklmn",
        "service": {
            "id": "PSVCAPI",
            "type": "service_reference",
            "summary": "BodyScript API",
        },
        "urgency": "high",
    }
    event = {
        "id": uuid.uuid4().hex,
        "event_type": event_type,
        "resource_type": "incident",
        "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "agent": {
            "id": "PINTEGR",
            "type": "service_reference",
            "summary": "CloudWatch",
        },
        "client": None,
        "data": incident,
    }
    return json.dumps({"event": event}).encode()


async def deliver(bot: RunningBot, standin: Any, body: bytes) -> int:
    signature = standin.sign_webhook(WEBHOOK_SECRET, body)
    headers = {"X-PagerDuty-Signature": signature, "X-Webhook-Id": uuid.uuid4().hex}
    return await _post_webhook(bot, body, headers)


def alert_posts(slack: SlackWorkspace) -> list[Any]:
    return [
        m
        for m in slack.messages(INCIDENT_RESPONSE_CHANNEL_ID)
        if "Alert from PagerDuty" in m.text
    ]


def _button(post: Any, action: str) -> dict[str, Any] | None:
    for block in post.blocks:
        for element in block.get("elements") or []:
            if element.get("action_id") == action:
                return {"block_id": block["block_id"], "value": element["value"]}
    return None


async def press(bot: RunningBot, slack: SlackWorkspace, action: str) -> Any:
    """Wait for the alert's post and press its `action` button as Alice; the views.open call the
    press made."""

    async def posted() -> list[Any] | None:
        return alert_posts(slack) or None

    [post] = await eventually(posted)
    button = _button(post, action)
    assert button is not None
    opened = len(slack.calls_to("views.open"))
    response = await bot.sender.action(
        action_id=action,
        channel_id=INCIDENT_RESPONSE_CHANNEL_ID,
        message_ts=post.ts,
        **button,
    )
    assert response.status == 200
    call = await slack.wait_for(
        "views.open", lambda c: len(slack.calls_to("views.open")) > opened
    )
    return call


async def test_alerts_a_pagerduty_incident_is_posted_once_grouped_and_cleared(
    pd_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    bot, slack = pd_bot, slack_workspace
    assert (
        await deliver(bot, pagerduty_standin, pd_event("incident.triggered", AT)) == 200
    )

    async def posted() -> list[Any] | None:
        return alert_posts(slack) or None

    [post] = await eventually(posted)
    assert "API 5xx rate above 5%" in post.text
    assert "<!channel>" not in post.text  # the title cannot mention anyone
    assert "xoxb-1234567890" not in post.text  # nor repost a secret
    assert "BodyScript API" in post.text
    assert f"<!date^{int(AT.timestamp())}^" in post.text  # each reader's own time
    assert "bodyscript.pagerduty.com/incidents/PALERT1" in post.text

    # Two more deliveries of the same incident: grouped on the post, not posted again.
    later = AT + timedelta(minutes=3)
    for moment in (AT + timedelta(minutes=1), later):
        assert (
            await deliver(
                bot, pagerduty_standin, pd_event("incident.triggered", moment)
            )
            == 200
        )

    async def grouped() -> bool:
        return "repeated 3 times" in alert_posts(slack)[0].text

    await eventually(grouped)
    assert len(alert_posts(slack)) == 1

    cleared_at = AT + timedelta(minutes=9)
    assert (
        await deliver(bot, pagerduty_standin, pd_event("incident.resolved", cleared_at))
        == 200
    )

    async def cleared() -> bool:
        return "Cleared" in alert_posts(slack)[0].text

    await eventually(cleared)
    assert len(alert_posts(slack)) == 1
    [alert] = await bot.services.storage.alerts()
    assert (alert.source, alert.source_key, alert.state) == (
        "pagerduty",
        "PALERT1",
        AlertState.CLEARED,
    )
    assert (alert.repeats, alert.first_at, alert.last_at, alert.cleared_at) == (
        3,
        AT,
        later,
        cleared_at,
    )
    assert "xoxb-1234567890" not in alert.title  # stored redacted
    assert await bot.services.storage.incidents() == []  # an alert is not an incident


async def test_alerts_a_bad_signature_records_nothing(
    pd_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    body = pd_event("incident.triggered", AT)
    forged = pagerduty_standin.sign_webhook("not-the-secret", body)
    assert await _post_webhook(pd_bot, body, {"X-PagerDuty-Signature": forged}) == 401
    assert await _post_webhook(pd_bot, body, {}) == 401
    assert await pd_bot.services.storage.alerts() == []
    assert alert_posts(slack_workspace) == []


async def test_alerts_the_bots_own_pagerduty_incidents_are_not_alerts(
    pd_bot: RunningBot, pagerduty_standin: Any
):
    own = json.loads(pd_event("incident.triggered", AT))
    own["event"]["data"]["incident_key"] = "warroom-INC-7"
    assert await deliver(pd_bot, pagerduty_standin, json.dumps(own).encode()) == 200
    assert await pd_bot.services.storage.alerts() == []


@pytest.fixture
async def alert_bot(
    tmp_path: Path, slack_server: RunningWorkspace, pagerduty_standin: Any
) -> AsyncIterator[RunningBot]:
    """The paging bot with an alert mapping: BodyScript API's alerts are a site outage, SEV1."""
    routes = {
        "BodyScript API": {"scenario": "complete-site-outage", "severity": "SEV1"}
    }
    settings = make_settings(
        tmp_path / "warroom.db",
        slack_server,
        **pagerduty_settings(pagerduty_standin, alert_scenarios=routes),
    )
    async with run_bot(settings, slack_server) as running:
        yield running


async def test_alerts_declare_from_an_alert_prefills_the_form_and_links_it(
    alert_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    bot, slack = alert_bot, slack_workspace
    assert (
        await deliver(bot, pagerduty_standin, pd_event("incident.triggered", AT)) == 200
    )

    call = await press(bot, slack, Action.ALERT_DECLARE)
    view = call.args["view"]
    inputs = {
        b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"
    }
    assert inputs[Field.TITLE]["initial_value"].startswith("API 5xx rate above 5%")
    assert inputs[Field.SEVERITY]["initial_option"]["value"] == "SEV1"
    assert inputs[Field.SCENARIO]["initial_option"]["value"] == "complete-site-outage"
    assert inputs[Field.IMPACT_STARTED]["initial_date_time"] == int(AT.timestamp())

    assert call.response is not None
    submitted = await bot.sender.submit_view(
        callback_id=Callback.DECLARE,
        values=declare_values(
            "API 5xx rate above 5%",
            scenario=payloads.static_select_value("complete-site-outage"),
        ),
        view_id=call.response["view"]["id"],
        private_metadata=view["private_metadata"],  # Slack hands it back
    )
    assert submitted.status == 200, submitted.text

    alert = await linked_alert(bot)
    assert alert.incident == 1
    entries = await bot.services.storage.timeline(1)
    [entry] = [e for e in entries if e.kind == "alert"]
    assert entry.key_event
    assert entry.occurred_at == AT  # detection: when it fired, not when it was declared
    assert entry.actor == "UALICE"

    async def updated() -> bool:
        now = alert_posts(slack)[0]
        return (
            "Declared as INC-1" in now.text
            and _button(now, Action.ALERT_DECLARE) is None
        )

    await eventually(updated)
    assert len(alert_posts(slack)) == 1


async def linked_alert(bot: RunningBot) -> Any:
    async def linked() -> Any:
        alerts = await bot.services.storage.alerts()
        return alerts[0] if alerts and alerts[0].incident else None

    return await eventually(linked)


async def test_alerts_resolving_the_incident_resolves_the_pagerduty_incident_of_its_alert(
    alert_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    bot, slack = alert_bot, slack_workspace
    # CloudWatch, through its PagerDuty integration, opens a PagerDuty incident (Events API v2).
    event = {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": "cloudwatch-bodyscript-api-5xx",
        "payload": {
            "summary": "API 5xx rate above 5%",
            "source": "cloudwatch",
            "severity": "critical",
        },
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{pagerduty_standin.url}/v2/enqueue",
            json=event,
            ssl=pagerduty_standin.ssl_context_for_clients,
        ) as response,
    ):
        assert response.status == 202
    [pd_id] = list(pagerduty_standin.state.incidents)
    body = pagerduty_standin.webhook_body(
        pd_id, "incident.triggered", by_user="alice@example.com", at=AT
    )
    assert await deliver(bot, pagerduty_standin, body) == 200

    call = await press(bot, slack, Action.ALERT_DECLARE)
    assert call.response is not None
    await bot.sender.submit_view(
        callback_id=Callback.DECLARE,
        values=declare_values("API 5xx rate above 5%", severity="SEV3"),  # pages nobody
        view_id=call.response["view"]["id"],
        private_metadata=call.args["view"]["private_metadata"],
    )
    alert = await linked_alert(bot)
    assert alert.source_key == pd_id
    [incident] = await bot.services.storage.incidents()

    async def ready() -> Any:
        found = await bot.services.storage.get_incident(incident.number)
        return found if found and found.channel_id else None

    await resolve(bot, slack, await eventually(ready))

    async def resolved() -> bool:
        return pagerduty_standin.state.incidents[pd_id]["status"] == "resolved"

    await eventually(resolved)
    puts = pagerduty_standin.requests_to("PUT", f"/incidents/{pd_id}")
    assert len(puts) == 1
    # The post-mortem's detection is the alert's time, and how long declaring took after it.
    drafts = bot.settings.database_path.parent / "postmortems"

    async def drafted() -> str | None:
        found = sorted(drafts.glob("*.md")) if drafts.exists() else []
        return found[-1].read_text() if found else None

    draft = await eventually(drafted)
    assert f"| Detected | {AT:%Y-%m-%d %H:%M:%S} |" in draft
    assert "| Time to declare |" in draft
    assert "| Time to declare | — |" not in draft
    assert (
        pagerduty_standin.requests_to("POST", "/incidents") == []
    )  # SEV3 paged nobody


async def _post_sns(bot: RunningBot, document: dict[str, Any]) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{bot.base_url}/aws/sns",
            data=json.dumps(document).encode(),
            headers={"Content-Type": "text/plain; charset=UTF-8"},  # as SNS sends it
        ) as response,
    ):
        return response.status, await response.text()


def _alarm(state: str, message_id: str, at: datetime) -> dict[str, Any]:
    alarm = {
        "AlarmName": "bodyscript-api-5xx",
        "AlarmDescription": "BodyScript API",
        "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:bodyscript-api-5xx",
        "NewStateValue": state,
        "NewStateReason": "Threshold Crossed: 1 datapoint [7.2] was greater than 5.0",
        "StateChangeTime": at.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        "Region": "US East (N. Virginia)",
    }
    return sns_alarm(
        MessageId=message_id,
        Message=json.dumps(alarm),
        Subject=f'{state}: "bodyscript-api-5xx" in US East (N. Virginia)',
    )


async def test_alerts_a_cloudwatch_alarm_through_sns_is_posted_and_a_forgery_records_nothing(
    tmp_path: Path,
    slack_server: RunningWorkspace,
    slack_workspace: SlackWorkspace,
    sns_host: SnsHost,
):
    settings = make_settings(
        tmp_path / "warroom.db",
        slack_server,
        sns_topics=[TOPIC],
        sns_cert_host=LOCAL,
        sns_ca_bundle=sns_host.ca_bundle,
    )
    async with run_bot(settings, slack_server) as bot:
        confirmation = sns_host.confirmation()
        assert await _post_sns(bot, sns_host.sign(confirmation)) == (
            200,
            '{"outcome": "confirmed"}',
        )
        assert sns_host.hits[-1] == sns_host.CONFIRM_PATH

        # Forgeries first: a changed message, a certificate from a host that is not SNS.
        forged = sns_host.sign(_alarm("ALARM", "m-0", AT))
        forged["Message"] = forged["Message"].replace("7.2", "9.9")
        assert (await _post_sns(bot, forged))[0] == 403
        elsewhere = sns_host.sign(
            _alarm("ALARM", "m-0", AT)
            | {
                "SigningCertURL": "https://sns.evil.example/SimpleNotificationService-x.pem"
            }
        )
        assert (await _post_sns(bot, elsewhere))[0] == 403
        assert await bot.services.storage.alerts() == []

        alarm = sns_host.sign(_alarm("ALARM", "m-1", AT))
        assert (await _post_sns(bot, alarm))[0] == 200
        assert await _post_sns(bot, alarm) == (200, '{"outcome": "duplicate"}')
        again = sns_host.sign(_alarm("ALARM", "m-2", AT + timedelta(minutes=5)))
        assert (await _post_sns(bot, again))[0] == 200
        ok = sns_host.sign(_alarm("OK", "m-3", AT + timedelta(minutes=20)))
        assert (await _post_sns(bot, ok))[0] == 200

        def posts() -> list[Any]:
            return [
                m
                for m in slack_workspace.messages(INCIDENT_RESPONSE_CHANNEL_ID)
                if "Alert from CloudWatch" in m.text
            ]

        async def cleared() -> bool:
            return bool(posts()) and "Cleared" in posts()[0].text

        await eventually(cleared)
        [post] = posts()
        assert "bodyscript-api-5xx" in post.text
        assert "repeated 2 times" in post.text
        [stored] = await bot.services.storage.alerts()
        assert (stored.source, stored.repeats, stored.first_at) == ("cloudwatch", 2, AT)


async def test_alerts_dismissed_with_a_reason_stay_quiet(
    pd_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    bot, slack = pd_bot, slack_workspace
    assert (
        await deliver(bot, pagerduty_standin, pd_event("incident.triggered", AT)) == 200
    )

    call = await press(bot, slack, Action.ALERT_DISMISS)
    assert call.response is not None
    view_id, metadata = (
        call.response["view"]["id"],
        call.args["view"]["private_metadata"],
    )

    async def submit(reason: str) -> Any:
        return await bot.sender.submit_view(
            callback_id=Callback.ALERT_DISMISS,
            values={Field.REASON: {"value": payloads.plain_text_value(reason)}},
            view_id=view_id,
            private_metadata=metadata,
        )

    refused = await submit("  ")
    assert json.loads(refused.text)["errors"] == {Field.REASON: "Say why."}
    [alert] = await bot.services.storage.alerts()
    assert alert.state is AlertState.FIRING
    assert (await submit("A known deploy blip, fixed")).text == ""

    async def dismissed() -> Any:
        now = alert_posts(slack)[0]
        return (
            now if "Dismissed by <@UALICE>: A known deploy blip" in now.text else None
        )

    now = await eventually(dismissed)
    assert _button(now, Action.ALERT_DECLARE) is None
    assert _button(now, Action.ALERT_DISMISS) is None
    # It fires again: grouped, still dismissed, no buttons.
    later = AT + timedelta(minutes=2)
    assert (
        await deliver(bot, pagerduty_standin, pd_event("incident.triggered", later))
        == 200
    )

    async def repeated() -> Any:
        now = alert_posts(slack)[0]
        return now if "repeated 2 times" in now.text else None

    now = await eventually(repeated)
    assert "Dismissed by" in now.text
    assert _button(now, Action.ALERT_DECLARE) is None
    [alert] = await bot.services.storage.alerts()
    assert (alert.state, alert.dismissed_by) == (AlertState.DISMISSED, "UALICE")


async def test_alerts_the_plans_alerts_choose_the_scenario_by_default(
    pd_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    bot, slack = pd_bot, slack_workspace
    named = json.loads(pd_event("incident.triggered", AT))
    named["event"]["data"]["title"] = "DATABASE CONNECTIVITY LOST on bodyscript-prod"
    named["event"]["data"]["service"]["summary"] = "BodyScript RDS"
    assert await deliver(bot, pagerduty_standin, json.dumps(named).encode()) == 200

    call = await press(bot, slack, Action.ALERT_DECLARE)
    inputs = {
        b["block_id"]: b["element"]
        for b in call.args["view"]["blocks"]
        if b["type"] == "input"
    }
    assert inputs[Field.SCENARIO]["initial_option"]["value"] == "database-failure"
    assert inputs[Field.SEVERITY]["initial_option"]["value"] == "SEV1"
