"""`warroom backup` and `warroom restore` through the command line, against a database a running
bot is writing: checked online copies to a directory and to S3 (moto), the newest good one restored,
a damaged one skipped, `--at`, and a live database never overwritten."""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import aiohttp
import boto3
import pytest

from bot.cli.main import main as warroom
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace
from bot.storage.backup import Manifest
from bot.storage.chain import verify_incident
from tests.flows import command_in, declare, eventually
from tests.plugins.bot import RunningBot, make_settings, run_bot


async def incidents_with_notes(
    bot: RunningBot, slack: SlackWorkspace, notes: int
) -> list[int]:
    numbers = []
    for title in ("Checkout errors", "Disk full"):
        incident = await declare(bot, slack, title=title)
        for n in range(notes):
            await command_in(bot, incident, f"note {title} {n}")
        numbers.append(incident.number)

    async def recorded() -> bool:
        return note_count(bot.settings.database_path) == 2 * notes

    await eventually(recorded)
    return numbers


def manifests(directory: Path) -> list[Manifest]:
    found = [Manifest.from_json(p.read_text()) for p in directory.glob("*.json")]
    return sorted(found, key=lambda m: m.name)


def note_count(database: Path) -> int:
    with closing(sqlite3.connect(database)) as db:
        row = db.execute("select count(*) from timeline where kind = 'note'").fetchone()
        return int(row[0])


async def test_backups_while_the_bot_writes_restore_the_newest_good_one(
    tmp_path: Path,
    slack_server: RunningWorkspace,
    slack_workspace: SlackWorkspace,
    capsys: pytest.CaptureFixture[str],
):
    database, kept = tmp_path / "live" / "warroom.db", tmp_path / "backups"
    database.parent.mkdir()
    async with run_bot(make_settings(database, slack_server), slack_server) as bot:
        numbers = await incidents_with_notes(bot, slack_workspace, 3)
        assert warroom(["backup", "--database", str(database), "--to", str(kept)]) == 0
        first = await bot.services.incidents.get(numbers[0])
        await command_in(bot, first, "note said after the first backup")

        async def seven() -> bool:
            return note_count(database) == 7

        await eventually(seven)
        assert warroom(["backup", "--database", str(database), "--to", str(kept)]) == 0
        # The bot is running: its database is not overwritten.
        assert warroom(["restore", "--to", str(database), "--from", str(kept)]) == 2
        assert "in use by a running warroom" in capsys.readouterr().err
    older, newer = manifests(kept)
    assert set(newer.heads) == {str(n) for n in numbers}
    grown = int(str(newer.heads[str(numbers[0])]["rows"]))
    assert grown == int(str(older.heads[str(numbers[0])]["rows"])) + 1

    restored = tmp_path / "new-host" / "warroom.db"
    assert warroom(["restore", "--to", str(restored), "--from", str(kept)]) == 0
    assert f"Restored {newer.name}" in capsys.readouterr().out
    assert note_count(restored) == 7
    for number in numbers:
        report = verify_incident(restored, number)
        assert report.ok
        assert report.head_hash == newer.heads[str(number)]["hash"]
    # A bot starts on it at once: the backed-up process's lease did not come with it.
    async with run_bot(make_settings(restored, slack_server), slack_server) as again:
        assert await again.services.incidents.get(numbers[1])

    # The newest is damaged (its bytes no longer match the manifest): the older one is restored.
    damaged = kept / newer.file
    damaged.write_bytes(damaged.read_bytes()[:-100] + b"\0" * 100)
    assert warroom(["restore", "--to", str(restored), "--from", str(kept)]) == 0
    out = capsys.readouterr().out
    assert (
        f"skipped {newer.name}: its SHA-256 is not the one its manifest records" in out
    )
    assert f"Restored {older.name}" in out
    assert note_count(restored) == 6

    # --at before the first backup: nothing to restore, nothing changed.
    before = restored.read_bytes()
    at = ["--at", "2020-01-01 00:00"]
    assert warroom(["restore", "--to", str(restored), "--from", str(kept), *at]) == 1
    assert "nothing was restored" in capsys.readouterr().out
    assert restored.read_bytes() == before


async def test_a_copy_whose_chain_was_edited_is_never_shipped(
    tmp_path: Path,
    slack_server: RunningWorkspace,
    slack_workspace: SlackWorkspace,
    capsys: pytest.CaptureFixture[str],
):
    database, kept = tmp_path / "warroom.db", tmp_path / "backups"
    async with run_bot(make_settings(database, slack_server), slack_server) as bot:
        await incidents_with_notes(bot, slack_workspace, 1)
    with closing(sqlite3.connect(database)) as db, db:
        db.execute("update timeline set text = 'rewritten' where kind = 'note'")
    assert warroom(["backup", "--database", str(database), "--to", str(kept)]) == 2
    assert "No backup was made: BROKEN INC-1" in capsys.readouterr().err
    assert not kept.exists()


async def test_backups_to_s3_are_encrypted_and_restored(
    tmp_path: Path,
    aws_env: str,
    slack_server: RunningWorkspace,
    slack_workspace: SlackWorkspace,
    monkeypatch: pytest.MonkeyPatch,
):
    s3 = boto3.client("s3", region_name="us-west-2")
    s3.create_bucket(
        Bucket="warroom-backups",
        CreateBucketConfiguration={"LocationConstraint": "us-west-2"},
    )
    monkeypatch.setenv("WARROOM_BACKUP_URL", "s3://warroom-backups/prod")
    monkeypatch.setenv("WARROOM_BACKUP_REGION", "us-west-2")
    database = tmp_path / "warroom.db"
    async with run_bot(make_settings(database, slack_server), slack_server) as bot:
        await incidents_with_notes(bot, slack_workspace, 2)
        assert warroom(["backup", "--database", str(database)]) == 0
    listed = s3.list_objects_v2(Bucket="warroom-backups")["Contents"]
    keys = sorted(o["Key"] for o in listed)
    assert [k.rsplit(".", 1)[-1] for k in keys] == ["gz", "json"]
    assert all(k.startswith("prod/warroom-") for k in keys)
    for key in keys:
        head = s3.head_object(Bucket="warroom-backups", Key=key)
        assert head["ServerSideEncryption"] == "AES256"
    body = s3.get_object(Bucket="warroom-backups", Key=keys[0])["Body"].read()
    assert gzip.decompress(body)[:16] == b"SQLite format 3\0"
    manifest = json.loads(
        s3.get_object(Bucket="warroom-backups", Key=keys[1])["Body"].read()
    )
    restored = tmp_path / "elsewhere" / "warroom.db"
    assert warroom(["restore", "--to", str(restored)]) == 0
    assert note_count(restored) == 4
    assert verify_incident(restored, 2).head_hash == manifest["heads"]["2"]["hash"]


def test_bad_backup_settings_are_listed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("WARROOM_BACKUP_URL", "ftp://somewhere")
    monkeypatch.setenv("WARROOM_BACKUP_REGION", "moon-1")
    assert warroom(["backup"]) == 2
    err = capsys.readouterr().err
    assert "WARROOM_BACKUP_URL" in err
    assert "WARROOM_BACKUP_REGION" in err


async def test_the_running_bot_backs_up_on_schedule_and_reports_the_age(
    tmp_path: Path, slack_server: RunningWorkspace, slack_workspace: SlackWorkspace
):
    kept, broken = tmp_path / "backups", tmp_path / "a-file"
    broken.write_text("not a directory")
    settings = make_settings(
        tmp_path / "warroom.db",
        slack_server,
        backup_url=str(kept),
        backup_open_seconds=5,
    )
    async with run_bot(settings, slack_server) as bot, aiohttp.ClientSession() as http:
        await declare(bot, slack_workspace)  # an open incident: every 5 s

        async def shipped() -> list[Manifest]:
            return manifests(kept) if kept.exists() else []

        [first, *_] = await eventually(shipped)
        assert first.heads["1"]["rows"]
        async with http.get(f"{bot.base_url}/metrics") as response:
            text = await response.text()
        assert "warroom_backup_interval_seconds 5.0" in text
        assert 'warroom_backups_total{outcome="ok"}' in text
        async with http.get(f"{bot.base_url}/readyz") as response:
            body = await response.json()
        assert response.status == 200
        assert 0 <= body["backup_age_s"] < 60


async def test_a_failing_scheduled_backup_is_counted_and_the_bot_stays_ready(
    tmp_path: Path, slack_server: RunningWorkspace, slack_workspace: SlackWorkspace
):
    broken = tmp_path / "a-file"
    broken.write_text("a file where the backups' directory should be")
    settings = make_settings(
        tmp_path / "warroom.db",
        slack_server,
        backup_url=str(broken),
        backup_open_seconds=5,
    )
    async with run_bot(settings, slack_server) as bot, aiohttp.ClientSession() as http:
        await declare(bot, slack_workspace)

        async def failed() -> str | None:
            async with http.get(f"{bot.base_url}/metrics") as response:
                text = await response.text()
            return text if 'warroom_backups_total{outcome="failed"}' in text else None

        await eventually(failed)
        async with http.get(f"{bot.base_url}/readyz") as response:
            body = await response.json()
        assert response.status == 200
        assert body["backup_age_s"] >= 5


async def test_after_a_host_loss_the_restored_bot_recovers_the_channel_from_slack(
    tmp_path: Path, slack_server: RunningWorkspace, slack_workspace: SlackWorkspace
):
    """Backup, more said, the host and its database lost, something said while no bot ran:
    restored on a new host, the bot reads the channel back and misses none of it."""
    lost, kept = tmp_path / "lost" / "warroom.db", tmp_path / "backups"
    lost.parent.mkdir()
    async with run_bot(make_settings(lost, slack_server), slack_server) as bot:
        incident = await declare(bot, slack_workspace)
        channel = incident.channel_id
        assert channel

        async def say(text: str) -> None:
            body = slack_workspace.user_message(channel, "UBOB", text)
            assert (await bot.sender.event(body)).status == 200

        await say("before the backup")
        await command_in(bot, incident, "note a note before the backup")
        await eventually(lambda: _said(bot, incident.number, 1))
        assert warroom(["backup", "--database", str(lost), "--to", str(kept)]) == 0
        await say("after the backup, one")
        await say("after the backup, two")
        await eventually(lambda: _said(bot, incident.number, 3))
    shutil.rmtree(lost.parent)  # the host is gone
    lost.parent.mkdir()
    slack_workspace.user_message(channel, "UCAROL", "while no bot listened")

    restored = tmp_path / "new-host" / "warroom.db"
    assert warroom(["restore", "--to", str(restored), "--from", str(kept)]) == 0
    async with run_bot(make_settings(restored, slack_server), slack_server) as again:
        entries = await eventually(lambda: _said(again, incident.number, 4))
        await command_in(again, incident, "status identified")  # the bot works on
    texts = [(e.text, bool(e.data.get("recovered"))) for e in entries]
    assert texts == [
        ("before the backup", False),
        ("after the backup, one", True),
        ("after the backup, two", True),
        ("while no bot listened", True),
    ]
    assert verify_incident(restored, incident.number).ok
    # The post-mortem says what was recovered and what could not be.
    out = tmp_path / "draft.md"
    key = f"INC-{incident.number}"
    assert warroom(["export", key, "--database", str(restored), "--out", str(out)]) == 0
    draft = out.read_text()
    assert "## Recovered from Slack\n\n3 channel message(s) from " in draft
    assert "approvals, AWS calls" in draft
    assert "aws cloudtrail lookup-events --start-time" in draft
    as_json = tmp_path / "draft.json"
    export = ["export", key, "--format", "json", "--database", str(restored)]
    assert warroom([*export, "--out", str(as_json)]) == 0
    assert json.loads(as_json.read_text())["recovered"]["messages"] == 3


async def _said(bot: RunningBot, number: int, count: int) -> list | None:
    entries = await bot.services.storage.timeline(number)
    said = [e for e in entries if e.kind == "message"]
    return said if len(said) >= count else None
