"""Secrets planted in every input path of a whole incident never reach a sink: not the SQLite file
or its WAL, not one call Slack received, not the post-mortem drafts. Identifiers stay visible.

Also owns the canaries and the sink scan that `tests/test_canaries_providers.py` (AWS answers and
PagerDuty names) shares: `planted(code)` gives one secret of every kind, each carrying a marker
unique to the input path `code`; `leaks(sinks, canaries)` names every sink a marker reached.
"""

from __future__ import annotations

import json
from pathlib import Path

from bot.sandbox import payloads
from bot.sandbox.slack.workspace import SlackWorkspace
from handlers.ids import Callback, Field
from tests.flows import command_in, declare, eventually, open_view
from tests.plugins.bot import RunningBot

# One secret of each kind; `{m}` is the marker, which redaction must swallow with the secret.
KINDS = {
    "slack bot token": "xoxb-1234567890-0987654321-{m}",
    "slack user token": "xoxp-1234567890-0987654321-{m}",
    "slack refresh token": "xoxe.xoxp-1-{m}0123456789",
    "slack xoxe token": "xoxe-1-{m}0123456789abcdef",
    "slack app token": "xapp-1-A0000000000-{m}0123",
    "slack webhook": "https://hooks.slack.com/services/T0000/B0000/{m}",
    "named aws secret key": "aws_secret_access_key = {m}K/aZ9bcdefghijklmnopqrstuvwxy01",
    # exactly 40 characters, as AWS issues them (checked in `planted`)
    "bare aws secret key": "{m}tnFEMI/K7MDENG/bPxRfiCYEXAMPLE",
    "session token": "sessionToken: FwoGZXIvYXdzE{m}0123456789abcdef",
    "jwt": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOi{m}In0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "pem key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEp{m}\n-----END RSA PRIVATE KEY-----",
    "pgp key": "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOY{m}\n-----END PGP PRIVATE KEY BLOCK-----",
    # last: with no END line it runs to the end of the text
    "pem key cut short": "-----BEGIN PRIVATE KEY-----\nMIIEv{m}",
}
IDENTIFIER = (
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:bodyscript/production/db"
)


def marker(code: str, index: int) -> str:
    """An alphanumeric marker (10 characters) naming the input path and the kind of secret."""
    assert len(code) == 2
    assert code.isalnum()
    return f"MARK{code}{index:02d}Zq"


def planted(code: str, kinds: dict[str, str] = KINDS) -> dict[str, str]:
    """One secret of each kind, marked for the input path `code`."""
    secrets = {
        kind: template.format(m=marker(code, i))
        for i, (kind, template) in enumerate(kinds.items())
    }
    if "bare aws secret key" in secrets:
        assert len(secrets["bare aws secret key"]) == 40
    return secrets


def marker_of(secret: str) -> bytes:
    start = secret.index("MARK")
    return secret[start : start + 10].encode()


def leaks(
    sinks: dict[str, bytes], canaries: dict[str, dict[str, str]]
) -> dict[str, list[str]]:
    """`{"path: kind": [sinks]}` for every marker found in a sink, case-insensitively (a channel
    name or a slug lowercases what it copies)."""
    lowered = {name: data.lower() for name, data in sinks.items()}
    found = {}
    for path, secrets in canaries.items():
        for kind, secret in secrets.items():
            needle = marker_of(secret).lower()
            hit = [name for name, data in lowered.items() if needle in data]
            if hit:
                found[f"{path}: {kind}"] = hit
    return found


def files(root: Path) -> dict[str, bytes]:
    """Every byte on disk under `root`: the database, its WAL, the post-mortem drafts, exports, logs."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file()
    }


def slack_sinks(slack: SlackWorkspace) -> dict[str, bytes]:
    """Every call the Slack stand-in received (response_url posts included) and every file uploaded."""
    return {
        "slack calls": json.dumps([c.args for c in slack.calls], default=str).encode(),
        "slack files": b"\n".join(f.content for f in slack.files.values()),
    }


async def settled(bot: RunningBot) -> bool:
    return not await bot.services.storage.outbox_heads()


async def quiet(bot: RunningBot, slack: SlackWorkspace) -> None:
    """Wait until the post-mortem's upload is done, every upload Slack was told of has its bytes,
    and nothing waits to be sent: every sink holds all it will."""
    await bot.services.postmortems.wait_idle(within=60)

    async def done() -> bool:
        return await settled(bot) and all(
            f.content is not None for f in slack.files.values()
        )

    await eventually(done)


async def test_canaries_planted_everywhere_reach_no_sink(
    bot: RunningBot, slack_workspace: SlackWorkspace, tmp_path: Path
):
    slack = slack_workspace
    canaries = {
        path: planted(code)
        for path, code in (
            ("description", "de"),
            ("note", "no"),
            ("message", "me"),
            ("edit", "ed"),
            ("update", "up"),
            ("summary", "su"),
            ("root cause", "rc"),
        )
    }

    def text(path: str) -> str:
        return "\n".join(canaries[path].values())

    incident = await declare(
        bot,
        slack,
        **{
            Field.DESCRIPTION: payloads.plain_text_value(
                f"see {IDENTIFIER}\n{text('description')}"
            )
        },
    )
    channel = incident.channel_id
    assert channel
    await command_in(bot, incident, "note " + text("note").replace("\n", " "))
    said = slack.user_message(channel, "UBOB", text("message"))
    await bot.sender.event(said)
    await bot.sender.event(
        slack.user_edit(channel, said["event"]["ts"], "UBOB", "edited: " + text("edit"))
    )
    view_id = await open_view(bot, slack, "update", channel_id=channel)
    await bot.sender.submit_view(
        callback_id=Callback.UPDATE,
        values={
            Field.UPDATE_STATUS: {"value": payloads.static_select_value("identified")},
            Field.UPDATE_MESSAGE: {"value": payloads.plain_text_value(text("update"))},
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
            Field.SUMMARY: {"value": payloads.plain_text_value(text("summary"))},
            Field.ROOT_CAUSE: {"value": payloads.plain_text_value(text("root cause"))},
        },
    )

    drafts = bot.settings.database_path.parent / "postmortems"

    async def drafted() -> list[Path]:
        return sorted(drafts.glob("*.md")) if drafts.exists() else []

    await eventually(drafted)
    await quiet(bot, slack)

    sinks = {**files(tmp_path), **slack_sinks(slack)}
    assert any(name.endswith("-wal") for name in sinks)
    assert leaks(sinks, canaries) == {}
    # The scan sees what reached Slack: the note's timeline entry was posted, markers and all,
    # had they not been redacted.
    assert b"[REDACTED]" in sinks["slack calls"]
    # Identifiers are not secrets: the ARN is still shown and stored.
    assert IDENTIFIER.encode() in sinks["slack calls"]
