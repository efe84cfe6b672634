"""The status page in a real browser: headless Chromium loads it from the bot and the test reads
what a visitor sees (component states, the incident's public updates newest first, nothing from
internal notes); a screenshot is kept in `artefacts/` (or `$WARROOM_ARTEFACTS`). Without Chromium
(Debian's `chromium`; `.ci/run` installs it) this test is skipped and the others still run."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from bot.sandbox import payloads
from bot.sandbox.slack.workspace import SlackWorkspace
from handlers.ids import Field
from tests.browser import chromium, needs_chromium
from tests.flows import command_in, declare, eventually
from tests.plugins.bot import RunningBot
from tests.test_status_page import INTERNAL, SECRET_NOTE, post_update, published

ARTEFACTS = Path(
    os.environ.get("WARROOM_ARTEFACTS", Path(__file__).parent.parent / "artefacts")
)
pytestmark = needs_chromium


async def test_a_visitor_sees_the_incident_in_chromium(
    bot: RunningBot, slack_workspace: SlackWorkspace, tmp_path: Path
):
    slack = slack_workspace
    components = {Field.COMPONENTS: payloads.multi_static_select_value(["database"])}
    incident = await declare(bot, slack, severity="SEV2", **components)
    await command_in(bot, incident, f"note {SECRET_NOTE}")
    await post_update(
        bot, slack, incident, "investigating", "Uploads are failing for some users."
    )
    await post_update(
        bot, slack, incident, "monitoring", "A fix is in place; we are watching it."
    )
    await eventually(lambda: published(bot, "we are watching it"))

    url = f"{bot.base_url}/status"
    dom = await chromium(tmp_path / "profile", "--dump-dom", url)
    assert "<title>BodyScript Production status</title>" in dom
    assert (
        'id="component-database" data-state="degraded_performance"' in dom
    )  # monitoring
    assert 'id="component-frontend" data-state="operational"' in dom
    newest, oldest = dom.index("we are watching it"), dom.index("Uploads are failing")
    assert newest < oldest
    for internal in (INTERNAL, SECRET_NOTE, incident.title):
        assert internal not in dom

    shot = ARTEFACTS / "status-page.png"
    await asyncio.to_thread(ARTEFACTS.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(shot.unlink, missing_ok=True)
    await chromium(
        tmp_path / "profile", f"--screenshot={shot}", "--window-size=1000,1100", url
    )
    png = await asyncio.to_thread(shot.read_bytes)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
