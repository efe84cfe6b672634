"""The post-mortem draft reaches the incident channel as a file through Slack's external upload flow
(the local Slack workspace records every step and keeps the bytes), automatically at resolve and on
`/incident postmortem`; a draft bigger than any message is still a file, never a cut message. Also
`/incident stats` and `warroom stats`."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from bot.cli.main import main
from bot.models.incidents import Incident, NewEntry, Status
from bot.sandbox import payloads
from bot.sandbox.slack.workspace import SlackWorkspace
from bot.storage import Storage
from handlers.ids import Callback, Field
from tests.flows import command_in, declare, eventually, open_view
from tests.plugins.bot import RunningBot

MESSAGE_LIMIT = 4000  # Slack truncates message text beyond 40,000 characters; the bot keeps far below


async def _resolve(bot: RunningBot, slack: SlackWorkspace, incident: Incident) -> None:
    view_id = await open_view(bot, slack, "resolve", channel_id=incident.channel_id)
    response = await bot.sender.submit_view(
        callback_id=Callback.RESOLVE,
        view_id=view_id,
        private_metadata=slack.views[view_id].payload["private_metadata"],
        values={
            Field.SUMMARY: {
                "value": payloads.plain_text_value("Failed over to the replica")
            },
            Field.ROOT_CAUSE: {
                "value": payloads.plain_text_value("Disk full on primary")
            },
        },
    )
    assert response.status == 200


def _uploaded(slack: SlackWorkspace, channel: str) -> bytes:
    complete = next(
        c
        for c in slack.calls_to("files.completeUploadExternal")
        if c.args.get("channel_id") == channel
    )
    assert complete.ok, complete.response
    file_id = complete.response["files"][0]["id"]  # type: ignore[index]
    content = slack.files[file_id].content
    assert content is not None
    return content


async def test_resolve_uploads_the_postmortem_draft_to_the_channel_after_the_head_hash(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace)
    await command_in(bot, incident, "note primary disk full")
    await _resolve(bot, slack_workspace, incident)

    await slack_workspace.wait_for(
        "files.completeUploadExternal",
        lambda c: c.args.get("channel_id") == incident.channel_id,
    )
    content = _uploaded(slack_workspace, incident.channel_id or "").decode()
    assert content.startswith("# Post-mortem draft: INC-1 Database connection errors")
    assert "| Status | resolved |" in content
    assert "## Root cause\n\nDisk full on primary\n" in content
    covered = [
        e
        for e in await bot.services.storage.timeline(incident.number)
        if e.kind != "postmortem_version"
    ]
    head = covered[-1].hash
    assert f"head hash `{head}` (verified)" in content

    calls = [c.method for c in slack_workspace.calls]
    chain = next(
        i
        for i, c in enumerate(slack_workspace.calls)
        if "Timeline head hash" in str(c.args.get("text"))
    )
    assert calls.index("files.getUploadURLExternal") > chain
    assert calls.index("file_upload") < calls.index("files.completeUploadExternal")
    shared = [m for m in slack_workspace.messages(incident.channel_id or "") if m.files]
    assert len(shared) == 1
    assert "Post-mortem draft for INC-1" in shared[0].text

    async def recorded():
        drafts = await bot.services.storage.postmortems_of(incident.number)
        return drafts if drafts and drafts[0].slack_file_id else None

    [draft] = await eventually(recorded)
    assert (draft.trigger, draft.head_hash, draft.chain_ok) == ("resolve", head, True)
    assert draft.path.read_bytes() == content.encode()
    # the shared version is on the timeline with the file's SHA-256 and the head it covers
    versions = await eventually(
        lambda: bot.services.storage.entries_of(
            incident.number, ("postmortem_version",)
        )
    )
    assert [
        (v.data["version"], v.data["sha256"], v.data["head_hash"]) for v in versions
    ] == [(1, hashlib.sha256(content.encode()).hexdigest(), head)]


async def test_big_postmortem_is_uploaded_as_a_file_never_a_message(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace)
    now = datetime.now(UTC)
    notes = [
        NewEntry(
            kind="note",
            actor="UBOB",
            text=f"{i:04d} " + "replica lag rising " * 50,
            source=f"bulk:{i}",
        )
        for i in range(400)
    ]
    await bot.services.storage.append(incident.number, notes, now=now)

    await command_in(bot, incident, "postmortem")
    await slack_workspace.wait_for("files.completeUploadExternal")
    content = _uploaded(slack_workspace, incident.channel_id or "").decode()
    assert len(content) > 400_000
    # each note twice: under Key events (notes are key events) and in the appendix
    assert content.count("replica lag rising") == 2 * 400 * 50
    assert content.rstrip().endswith("(verified).")
    done = await slack_workspace.wait_for(
        "response_url", lambda c: "Uploaded" in str(c.args.get("text"))
    )
    assert f"{len(content.encode()):,} bytes" in done.args["text"]
    posted = [
        c
        for c in slack_workspace.calls
        if c.method in ("chat.postMessage", "chat.update", "response_url")
    ]
    assert all(len(str(c.args.get("text") or "")) < MESSAGE_LIMIT for c in posted)


async def test_upload_refused_by_slack_is_shown_in_the_channel(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace)
    slack_workspace.fail(
        "files.getUploadURLExternal", "not_allowed_token_type", status=200
    )

    await command_in(bot, incident, "postmortem")
    warning = await slack_workspace.wait_for(
        "chat.postMessage", lambda c: "could not be uploaded" in str(c.args.get("text"))
    )
    assert warning.args["channel"] == incident.channel_id
    assert "not_allowed_token_type" in warning.args["text"]
    assert f"warroom export {incident.key}" in warning.args["text"]
    [draft] = await bot.services.storage.postmortems_of(incident.number)
    assert draft.slack_file_id is None
    assert draft.error == "Slack refused the upload: not_allowed_token_type"


async def test_upload_rate_limited_is_retried(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace)
    slack_workspace.fail(
        "files.completeUploadExternal", "ratelimited", status=429, retry_after=0
    )

    await command_in(bot, incident, "postmortem")
    await slack_workspace.wait_for("files.completeUploadExternal", lambda c: c.ok)
    assert [
        c.status for c in slack_workspace.calls_to("files.completeUploadExternal")
    ] == [429, 200]


async def _stats_db(path) -> None:
    """Four incidents with known times: SEV1 x2 (one drill), SEV2 x2, two scenarios."""
    t0 = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
    storage = Storage(path)
    await storage.open()
    try:
        specs = [  # severity, scenario, ack after, mitigated after, resolved after (minutes), components, drill
            ("SEV1", "database-failure", 4, 20, 40, ["database"], False),
            ("SEV1", "database-failure", 6, 40, 60, ["database"], False),
            ("SEV2", "complete-site-outage", 10, 10, 30, ["frontend", "api"], False),
            ("SEV1", "database-failure", 1, 1, 1, ["database"], True),
        ]
        for i, (sev, scenario, ack, mit, res, components, drill) in enumerate(specs):
            declared = t0 + timedelta(days=i)
            draft = Incident(
                number=0,
                title=f"incident {i}",
                severity=sev,
                scenario=scenario,
                components=components,
                commander="UALICE",
                channel_name=f"inc-{i}",
                declared_by="UALICE",
                declared_at=declared,
                drill=drill,
            )
            made = await storage.create_incident(draft, source=f"stats:{i}")
            await storage.update_incident(
                made.number,
                acknowledged_at=declared + timedelta(minutes=ack),
                mitigated_at=declared + timedelta(minutes=mit),
                resolved_at=declared + timedelta(minutes=res),
                status=Status.RESOLVED,
            )
    finally:
        await storage.close()


async def test_stats_cli_reports_means_and_rto_attainment_by_severity_and_scenario(
    tmp_path, capsys
):
    await _stats_db(tmp_path / "s.db")
    assert main(["stats", "--database", str(tmp_path / "s.db")]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "3 incident(s), drills excluded."
    sev1 = next(line for line in lines if line.startswith("SEV1"))
    assert sev1.split() == [
        "SEV1",
        "2",
        "2",
        "5m",
        "00s",
        "(2)",
        "50m",
        "00s",
        "(2)",
        "1/2",
        "(50%)",
    ]
    site = next(line for line in lines if line.startswith("complete-site-outage"))
    assert site.split()[-2:] == [
        "1/2",
        "(50%)",
    ]  # mitigated after 10 min: api (15 min) met, frontend (5 min) missed
    assert (
        main(["stats", "--since", "2026-02-02", "--database", str(tmp_path / "s.db")])
        == 0
    )
    assert capsys.readouterr().out.startswith("2 incident(s) since 2026-02-02")
    assert (
        main(["stats", "--since", "yesterday", "--database", str(tmp_path / "s.db")])
        == 2
    )


async def test_stats_command_answers_privately(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    await declare(bot, slack_workspace)
    await bot.sender.command("stats", user_id="UBOB")
    answer = await slack_workspace.wait_for(
        "response_url", lambda c: "incident(s)" in str(c.args.get("text"))
    )
    assert answer.args["text"].startswith("1 incident(s), drills excluded.")
    assert answer.args.get("response_type") == "ephemeral"


async def test_draft_cut_short_is_uploaded_after_a_restart(
    start_bot, bot_settings, slack_workspace
):
    async with start_bot(bot_settings) as first:
        incident = await declare(first, slack_workspace)
        slack_workspace.fail(
            "files.getUploadURLExternal", "service_unavailable", status=503, times=3
        )
        await _resolve(first, slack_workspace, incident)
        await slack_workspace.wait_for(
            "chat.postMessage",
            lambda c: "could not be uploaded" in str(c.args.get("text")),
        )
        [failed] = await first.services.storage.postmortems_of(incident.number)
        assert (failed.trigger, failed.slack_file_id) == ("resolve", None)
    assert slack_workspace.calls_to("files.completeUploadExternal") == []

    async with start_bot(bot_settings) as second:
        await slack_workspace.wait_for("files.completeUploadExternal", lambda c: c.ok)
        content = _uploaded(slack_workspace, incident.channel_id or "")
        [draft] = await second.services.storage.postmortems_of(incident.number)
        assert draft.id == failed.id
        assert draft.slack_file_id is not None
        assert draft.path.read_bytes() == content
