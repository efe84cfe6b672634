"""PagerDuty acknowledgements and resolutions reach the timeline: polled, and by v3 webhook (HTTP mode)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from bot.sandbox.slack.workspace import SlackWorkspace
from tests.flows import declare, parsed_by_slack
from tests.plugins.bot import RunningBot
from tests.plugins.pagerduty import WEBHOOK_SECRET
from tests.test_pages_declare import channel_text, settled


async def test_pages_acknowledgement_polled_lands_on_timeline_and_sets_acknowledged_at(
    pd_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    incident = await declare(pd_bot, slack_workspace, severity="SEV1")
    [row] = await settled(pd_bot)
    acked_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5)
    pagerduty_standin.acknowledge(row.pd_incident_id, "bob@example.com", at=acked_at)

    sync = pd_bot.services.comms.pd_sync
    assert await sync.poll_once() == 1
    assert await sync.poll_once() == 0  # the same acknowledgement is recorded once

    stored = await pd_bot.services.storage.get_incident(incident.number)
    assert stored.acknowledged_at == acked_at
    entries = await pd_bot.services.storage.timeline(incident.number)
    ack = next(e for e in entries if e.kind == "pd_acknowledged")
    assert ack.key_event
    assert ack.occurred_at == acked_at
    assert "Bob Wilson" in ack.text
    await channel_text(slack_workspace, incident, "acknowledged by Bob Wilson")


async def _post_webhook(bot: RunningBot, body: bytes, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{bot.base_url}/pagerduty/webhook",
            data=body,
            headers={"Content-Type": "application/json", **headers},
        ) as response,
    ):
        return response.status


async def test_pages_webhook_signed_is_recorded_once_and_forged_is_refused(
    pd_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    incident = await declare(pd_bot, slack_workspace, severity="SEV1")
    [row] = await settled(pd_bot)
    at = datetime.now(UTC).replace(microsecond=0)
    body = pagerduty_standin.webhook_body(
        row.pd_incident_id, "incident.acknowledged", by_user="alice@example.com", at=at
    )
    good = pagerduty_standin.sign_webhook(WEBHOOK_SECRET, body)
    forged = pagerduty_standin.sign_webhook("not-the-secret", body)
    delivery = uuid.uuid4().hex

    assert await _post_webhook(pd_bot, body, {"X-PagerDuty-Signature": forged}) == 401
    assert await _post_webhook(pd_bot, body, {}) == 401
    assert (await pd_bot.services.storage.get_incident(1)).acknowledged_at is None

    headers = {"X-PagerDuty-Signature": f"v1=00ff, {good}", "X-Webhook-Id": delivery}
    assert await _post_webhook(pd_bot, body, headers) == 200
    assert await _post_webhook(pd_bot, body, headers) == 200  # a redelivery: recognised
    stored = await pd_bot.services.storage.get_incident(incident.number)
    assert stored.acknowledged_at == at
    kinds = [e.kind for e in await pd_bot.services.storage.timeline(incident.number)]
    assert kinds.count("pd_acknowledged") == 1


async def test_pages_webhook_route_absent_without_a_secret(bot: RunningBot):
    assert await _post_webhook(bot, b"{}", {}) in (404, 405)


async def test_pages_acknowledger_name_reaches_slack_as_text(
    pd_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    """A PagerDuty user's name is the provider's data: a mention or a link in it must stay inert."""
    hostile = "<!channel> <https://evil.example|click>"
    bob = pagerduty_standin.state.users["PBOBWIL"]
    bob["name"] = bob["summary"] = hostile
    incident = await declare(pd_bot, slack_workspace, severity="SEV1")
    [row] = await settled(pd_bot)
    pagerduty_standin.acknowledge(row.pd_incident_id, "bob@example.com")
    assert await pd_bot.services.comms.pd_sync.poll_once() == 1
    await channel_text(
        slack_workspace, incident, "acknowledged by &lt;!channel&gt; &lt;https://"
    )
    sent = parsed_by_slack(slack_workspace)
    assert not [t for t in sent if "<!channel>" in t or "<https://evil" in t]
