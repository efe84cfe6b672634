"""A call link per incident from `WARROOM_BRIDGE_URL`: each incident's own token on its card, a
private incident's link without its title, the fixed war room without the setting, and a template
with a placeholder it cannot fill refused with the other settings' problems."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.errors import ConfigError
from bot.sandbox import payloads
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace
from handlers.ids import Field
from tests.flows import declare
from tests.plugins.bot import make_settings, run_bot
from tests.plugins.slack import FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET

TEMPLATE = "https://meet.jit.si/warroom-{slug}-{token}?for={incident}"


def card_links(slack: SlackWorkspace, channel: str) -> list[str]:
    """The war-room links on a channel's card as Slack shows it now."""
    text = json.dumps([m.blocks for m in slack.messages(channel)])
    return sorted(set(re.findall(r"https://meet\.jit\.si/[^\"\s\\]+", text)))


async def test_each_incident_gets_its_own_bridge_on_its_card(
    tmp_path: Path, slack_server: RunningWorkspace, slack_workspace: SlackWorkspace
):
    settings = make_settings(tmp_path / "w.db", slack_server, bridge_url=TEMPLATE)
    async with run_bot(settings, slack_server) as bot:
        first = await declare(bot, slack_workspace, title="Checkout errors")
        second = await declare(bot, slack_workspace, title="Checkout errors")
        private = await declare(
            bot,
            slack_workspace,
            title="Leaked key",
            **{Field.PRIVATE: payloads.checkboxes_value(["private"])},
        )
    links = [i.bridge_url or "" for i in (first, second, private)]
    pattern = (
        r"https://meet\.jit\.si/warroom-(inc-\d+[a-z0-9-]*)-([\w-]{12})\?for=(INC-\d+)"
    )
    found = [re.fullmatch(pattern, link) for link in links]
    assert all(found), links
    slugs, tokens, keys = zip(*(m.groups() for m in found if m), strict=True)
    assert slugs == ("inc-1-checkout-errors", "inc-2-checkout-errors", "inc-3")
    assert keys == ("INC-1", "INC-2", "INC-3")
    assert len(set(tokens)) == 3
    for incident in (first, second, private):
        assert incident.channel_id
        assert card_links(slack_workspace, incident.channel_id) == [incident.bridge_url]


async def test_without_a_template_the_card_shows_the_fixed_war_room(
    tmp_path: Path, slack_server: RunningWorkspace, slack_workspace: SlackWorkspace
):
    settings = make_settings(tmp_path / "w.db", slack_server)
    async with run_bot(settings, slack_server) as bot:
        incident = await declare(bot, slack_workspace)
    assert incident.bridge_url is None
    assert incident.channel_id
    text = json.dumps([m.blocks for m in slack_workspace.messages(incident.channel_id)])
    assert "Zoom room ID 123-456-789" in text


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        (
            "https://meet.jit.si/{room}",
            "knows only {incident}, {slug} and {token}, not {room}",
        ),
        ("http://meet.jit.si/{slug}", "must be an https:// link"),
        ("https://meet.jit.si/{slug", "has an unmatched { or }"),
    ],
)
def test_a_bad_bridge_template_is_listed_with_the_other_problems(
    monkeypatch: pytest.MonkeyPatch, template: str, problem: str
):
    monkeypatch.setenv("SLACK_BOT_TOKEN", FAKE_BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", FAKE_SIGNING_SECRET)
    monkeypatch.setenv("WARROOM_BRIDGE_URL", template)
    monkeypatch.setenv("WARROOM_RESPONDERS", "U123")  # not JSON: listed too
    with pytest.raises(ConfigError) as raised:
        load_settings("run")
    problems = raised.value.problems
    assert any(
        p.startswith("WARROOM_BRIDGE_URL:") and problem in p for p in problems
    ), problems
    assert any(p.startswith("WARROOM_RESPONDERS:") for p in problems)
