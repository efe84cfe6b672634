"""Secrets planted in every input path of a whole incident never reach a sink: not the SQLite file
or its WAL, not one call Slack received, not the post-mortem drafts. Identifiers stay visible."""

from __future__ import annotations

import json
from pathlib import Path

from bot.sandbox import payloads
from bot.sandbox.slack.workspace import SlackWorkspace
from handlers.ids import Callback, Field
from tests.flows import command_in, declare, eventually, open_view
from tests.plugins.bot import RunningBot

# Each canary's secret part carries its marker; the redacted region must swallow the marker.
CANARIES = {
    "slack bot token": "xoxb-1234567890-0987654321-MARKbottoken",
    "slack refresh token": "xoxe.xoxp-1-MARKrefreshtoken0123456789",
    "named aws secret key": "aws_secret_access_key = MARKnamedK/aZ9bcdefghijklmnopqrstuvwxy01",
    "bare aws secret key": "MARKbareXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLE",
    "session token": "sessionToken: FwoGZXIvYXdzEMARKsession0123456789abcdef",
    "slack webhook": "https://hooks.slack.com/services/T0000/B0000/MARKwebhook",
    "pem key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEpMARKpem\n-----END RSA PRIVATE KEY-----",
    "pgp key": "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYMARKpgp\n-----END PGP PRIVATE KEY BLOCK-----",
    # last: with no END line it runs to the end of the text
    "pem key cut short": "-----BEGIN PRIVATE KEY-----\nMIIEvMARKnoend",
}
PLANTED = "\n".join(CANARIES.values())
IDENTIFIER = (
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:bodyscript/production/db"
)


async def test_canaries_planted_everywhere_reach_no_sink(
    bot: RunningBot, slack_workspace: SlackWorkspace, tmp_path: Path
):
    assert len(CANARIES["bare aws secret key"]) == 40
    slack = slack_workspace
    incident = await declare(
        bot,
        slack,
        **{
            Field.DESCRIPTION: payloads.plain_text_value(f"see {IDENTIFIER}\n{PLANTED}")
        },
    )
    channel = incident.channel_id
    assert channel
    await command_in(bot, incident, "note " + PLANTED.replace("\n", " "))
    said = slack.user_message(channel, "UBOB", PLANTED)
    await bot.sender.event(said)
    await bot.sender.event(
        slack.user_edit(channel, said["event"]["ts"], "UBOB", "edited: " + PLANTED)
    )
    view_id = await open_view(bot, slack, "update", channel_id=channel)
    await bot.sender.submit_view(
        callback_id=Callback.UPDATE,
        values={
            Field.UPDATE_STATUS: {"value": payloads.static_select_value("identified")},
            Field.UPDATE_MESSAGE: {"value": payloads.plain_text_value(PLANTED)},
        },
        view_id=view_id,
        private_metadata=json.dumps({"incident": incident.number}),
    )
    view_id = await open_view(bot, slack, "resolve", channel_id=channel)
    await bot.sender.submit_view(
        callback_id=Callback.RESOLVE,
        view_id=view_id,
        private_metadata=slack.views[view_id].payload["private_metadata"],
        values={
            Field.SUMMARY: {"value": payloads.plain_text_value(PLANTED)},
            Field.ROOT_CAUSE: {"value": payloads.plain_text_value(PLANTED)},
        },
    )

    drafts = bot.settings.database_path.parent / "postmortems"

    async def drafted() -> list[Path]:
        return sorted(drafts.glob("*.md")) if drafts.exists() else []

    await eventually(drafted, within=15.0)
    await eventually(lambda: _settled(bot))

    sinks = _files(tmp_path)
    sinks["slack"] = json.dumps([c.args for c in slack.calls]).encode()
    assert any(name.endswith("-wal") for name in sinks)
    leaks = {
        kind: [name for name, data in sinks.items() if _marker(secret) in data]
        for kind, secret in CANARIES.items()
    }
    assert {k: v for k, v in leaks.items() if v} == {}
    # Identifiers are not secrets: the ARN is still shown and stored.
    assert IDENTIFIER.encode() in sinks["slack"]


def _files(root: Path) -> dict[str, bytes]:
    """Every byte on disk under `root`: the database, its WAL, the post-mortem drafts."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file()
    }


def _marker(secret: str) -> bytes:
    start = secret.index("MARK")
    return secret[start : start + 12].encode()


async def _settled(bot: RunningBot) -> bool:
    return not await bot.services.storage.outbox_heads()
