"""The public status page: an update with public text publishes HTML, JSON and an Atom feed (the
bot serves a local page at /status, or puts it in S3 in another region); visitors see component
states, the incident's public updates newest first, and nothing written inside the incident."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import aiohttp
import boto3
import pytest

from bot.gateways.status_sinks import sink_for
from bot.models.incidents import Incident
from bot.sandbox import payloads
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace
from bot.sandbox.statuspage import StatuspageStandIn
from handlers.ids import Callback, Field
from tests.flows import command_in, declare, eventually, open_view, resolve
from tests.plugins.bot import RunningBot, make_settings, run_bot
from tests.plugins.trackers import STATUSPAGE_KEY, STATUSPAGE_PAGE

INTERNAL = "replica-7 in subnet-0a1b broke after Bob's deploy"
SECRET_NOTE = "INTERNAL ONLY: customer list leaked?"


async def post_update(
    bot: RunningBot, slack: SlackWorkspace, incident: Incident, status: str, public: str
) -> Any:
    view_id = await open_view(bot, slack, "update", channel_id=incident.channel_id)
    form = slack.views[view_id].payload
    assert any(b.get("block_id") == Field.UPDATE_PUBLIC for b in form["blocks"])
    return await bot.sender.submit_view(
        callback_id=Callback.UPDATE,
        view_id=view_id,
        private_metadata=form["private_metadata"],
        values={
            Field.UPDATE_STATUS: {"value": payloads.static_select_value(status)},
            Field.UPDATE_MESSAGE: {"value": payloads.plain_text_value(INTERNAL)},
            Field.UPDATE_PUBLIC: {"value": payloads.plain_text_value(public)},
        },
    )


async def fetch(bot: RunningBot, name: str = "") -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{bot.base_url}/status{name}") as r,
    ):
        assert r.status == 200, await r.text()
        return await r.text()


async def published(bot: RunningBot, text: str) -> str | None:
    await bot.services.status_page.wait_idle()
    page = await fetch(bot)
    return page if text in page else None


async def test_public_updates_publish_the_status_page_and_nothing_internal(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    slack = slack_workspace
    empty = await eventually(lambda: published(bot, "All systems operational"))
    assert "No current incidents." in empty
    incident = await declare(
        bot,
        slack,
        **{Field.COMPONENTS: payloads.multi_static_select_value(["database", "api"])},
    )
    await command_in(bot, incident, f"note {SECRET_NOTE}")
    response = await post_update(
        bot, slack, incident, "investigating", "Some users cannot log in."
    )
    assert (response.status, response.text) == (200, "")
    await post_update(
        bot,
        slack,
        incident,
        "identified",
        "We found the cause and are restoring the database.",
    )
    page = await eventually(lambda: published(bot, "restoring the database"))

    first = page.index("Some users cannot log in.")
    second = page.index("We found the cause and are restoring the database.")
    assert second < first  # newest first
    assert (
        'id="component-database" data-state="major_outage"' in page
    )  # SEV1 is High impact
    assert 'id="component-api" data-state="major_outage"' in page
    assert 'id="component-file-storage" data-state="operational"' in page
    document = json.loads(await fetch(bot, "/status.json"))
    assert document["status"]["indicator"] == "major_outage"
    [current] = document["incidents"]
    assert current["name"] == "Service disruption: Database, API Service"
    assert [u["status"] for u in current["updates"]] == ["identified", "investigating"]
    feed = ElementTree.fromstring(await fetch(bot, "/feed.atom"))
    titles = [e.text for e in feed.iter("{http://www.w3.org/2005/Atom}title")]
    assert "Service disruption: Database, API Service: identified" in titles
    for name in ("", "/status.json", "/feed.atom"):
        text = await fetch(bot, name)
        for internal in (INTERNAL, SECRET_NOTE, incident.title, "UALICE", "alice"):
            assert internal not in text, (name, internal)
    timeline = await bot.services.storage.timeline(incident.number)
    assert [e.kind for e in timeline].count("public_update") == 2

    await resolve(bot, slack, incident)
    page = await eventually(lambda: published(bot, "This incident has been resolved."))
    assert "All systems operational" in page
    history = page[page.index('id="history"') :]
    assert "This incident has been resolved." in history
    assert "No current incidents." in page


async def test_an_update_without_public_text_stays_internal(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace)
    await post_update(bot, slack_workspace, incident, "identified", "")
    await eventually(lambda: _updates(bot, incident.number))
    assert not await bot.services.storage.has_public_updates(incident.number)
    page = await eventually(lambda: published(bot, "All systems operational"))
    assert INTERNAL not in page


async def _updates(bot: RunningBot, number: int) -> bool:
    return any(
        e.kind == "status_update" for e in await bot.services.storage.timeline(number)
    )


async def test_the_files_are_only_the_page(bot: RunningBot):
    async with aiohttp.ClientSession() as session:
        for name in ("../warroom.db", "warroom.db", "%2e%2e%2fwarroom.db"):
            async with session.get(f"{bot.base_url}/status/{name}") as r:
                assert r.status == 404, name


def test_the_page_goes_to_s3_in_another_region(aws_env: str, tmp_path: Path):
    s3 = boto3.client("s3", region_name="eu-central-1")
    s3.create_bucket(
        Bucket="bodyscript-status",
        CreateBucketConfiguration={"LocationConstraint": "eu-central-1"},
    )
    sink = sink_for("s3://bodyscript-status/public", region="eu-central-1")
    sink.put(
        {"index.html": b"<html>ok</html>", "status.json": b"{}"},
        {"index.html": "text/html; charset=utf-8", "status.json": "application/json"},
    )
    found = s3.get_object(Bucket="bodyscript-status", Key="public/index.html")
    assert found["Body"].read() == b"<html>ok</html>"
    assert found["ContentType"] == "text/html; charset=utf-8"
    assert sink.directory is None


@pytest.mark.parametrize("url", ["ftp://host/x", "s3:///nobucket"])
def test_a_wrong_status_url_is_refused(url: str):
    from bot.errors import UsageError

    with pytest.raises(UsageError):
        sink_for(url)


@pytest.fixture
async def mirrored(
    tmp_path: Path,
    slack_server: RunningWorkspace,
    statuspage: tuple[StatuspageStandIn, str],
) -> AsyncIterator[RunningBot]:
    url = statuspage[1]
    settings = make_settings(
        tmp_path / "warroom.db",
        slack_server,
        statuspage_api_key=STATUSPAGE_KEY,
        statuspage_page_id=STATUSPAGE_PAGE,
        statuspage_api_url=url,
        statuspage_components={"database": "cmpdb0001", "api": "cmpapi001"},
    )
    async with run_bot(settings, slack_server) as running:
        yield running


async def test_public_updates_are_mirrored_to_statuspage_in_order_once(
    mirrored: RunningBot,
    slack_workspace: SlackWorkspace,
    statuspage: tuple[StatuspageStandIn, str],
):
    bot, (page, _) = mirrored, statuspage
    components = {Field.COMPONENTS: payloads.multi_static_select_value(["database"])}
    incident = await declare(bot, slack_workspace, **components)
    await post_update(bot, slack_workspace, incident, "investigating", "Logins fail.")
    await bot.services.status_page.wait_idle()
    page.fail_next = 1  # Statuspage is down for the next update
    await post_update(bot, slack_workspace, incident, "identified", "Cause found.")
    await bot.services.status_page.wait_idle()
    await resolve(bot, slack_workspace, incident)  # the next publish catches up
    await eventually(lambda: _mirrored(page, 3))
    [remote] = page.incidents.values()
    assert remote["name"] == "Service disruption: Database"
    assert [u["body"] for u in reversed(remote["incident_updates"])] == [
        "Logins fail.",
        "Cause found.",
        "This incident has been resolved. Thank you for your patience.",
    ]
    assert remote["status"] == "resolved"
    assert page.components == {"cmpdb0001": "operational"}
    await bot.services.status_page.publish()  # nothing new: nothing sent twice
    assert len(remote["incident_updates"]) == 3


async def _mirrored(page: StatuspageStandIn, n: int) -> bool:
    return any(len(i["incident_updates"]) >= n for i in page.incidents.values())


async def test_a_secret_in_the_public_text_is_redacted_before_it_is_published(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace)
    leaked = "AKIAIOSFODNN7EXAMPLE"
    await post_update(
        bot, slack_workspace, incident, "identified", f"Rotating key {leaked} now."
    )
    page = await eventually(lambda: published(bot, "Rotating key"))
    assert leaked not in page
    for name in ("/status.json", "/feed.atom"):
        assert leaked not in await fetch(bot, name)


async def test_a_failed_publish_is_reported_by_readyz_and_the_next_one_recovers(
    tmp_path: Path, slack_server: RunningWorkspace, slack_workspace: SlackWorkspace
):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the status directory should be")
    settings = make_settings(
        tmp_path / "warroom.db", slack_server, status_url=str(blocked / "status")
    )
    async with run_bot(settings, slack_server) as bot:
        incident = await declare(bot, slack_workspace)
        await post_update(
            bot, slack_workspace, incident, "identified", "Working on it."
        )
        await bot.services.status_page.wait_idle()
        assert await _readyz(bot) == (200, "failing")
        blocked.unlink()  # the disk is writable again
        await bot.services.status_page.publish()
        assert await _readyz(bot) == (200, "ok")
        assert "Working on it." in (blocked / "status" / "index.html").read_text()


async def _readyz(bot: RunningBot) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{bot.base_url}/readyz") as response,
    ):
        return response.status, (await response.json())["status_page"]
