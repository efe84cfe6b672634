"""Nothing acknowledged is lost, and nothing is written where it must not be (issue 13).

A message event gets its 200 only once the COMMIT holding it succeeded, when the disk fills at
statement time (`max_page_count`: SQLITE_FULL) or at COMMIT time (the WAL cannot grow, as on a full
disk). A damaged, truncated or newer database is refused at start-up with one message and is left
byte for byte as it was; the readiness probe writes nothing; the writer commits with
`synchronous = FULL`. Real SQLite files, the real bot over signed HTTP, the Slack stand-in.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import resource
import signal
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.errors import DatabaseUnusable
from bot.models.incidents import NewEntry
from bot.sandbox.signing import SentResponse
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace
from bot.storage import Storage
from tests.drafts import incident_draft
from tests.flows import declare, eventually
from tests.test_process import bot_env, free_port, warroom_cli

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MESSAGES = 240
PADDING = (
    "x" * 1500
)  # about one page of inbox body and one of timeline text per message


@contextmanager
def files_cannot_grow_past(limit: int) -> Iterator[None]:
    """Make every file of this process unable to grow past `limit` bytes, as a full disk does:
    SQLite's append to the WAL at COMMIT fails (EFBIG) while statements still succeed in memory."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    ignored = signal.signal(
        signal.SIGXFSZ, signal.SIG_IGN
    )  # an error, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, ignored)


async def _writer(storage: Storage, sql: str) -> Any:
    """Run one statement on the bot's own writer connection (a pragma is per connection)."""
    return await storage._call(lambda: storage.db.execute(sql).fetchall())


async def _send_all(
    send: Any, bodies: dict[str, dict[str, Any]], **kw: Any
) -> dict[str, SentResponse]:
    gate = asyncio.Semaphore(20)

    async def one(body: dict[str, Any]) -> SentResponse:
        async with gate:
            return await send(body, **kw)

    answers = await asyncio.gather(*(one(b) for b in bodies.values()))
    return dict(zip(bodies, answers, strict=True))


def _stored_messages(database: Path) -> list[str]:
    with closing(sqlite3.connect(database)) as db:
        return [
            text
            for (text,) in db.execute(
                "select text from timeline where kind = 'message' order by id"
            )
        ]


@pytest.mark.parametrize("fill", ["max_page_count", "wal_cannot_grow"])
async def test_durability_a_message_gets_200_only_once_its_commit_succeeded__full_disk(
    fill: str,
    bot_settings,
    start_bot,
    slack_workspace: SlackWorkspace,
):
    async with start_bot(bot_settings) as bot:
        incident = await declare(bot, slack_workspace)
        assert incident.channel_id
        bodies = {
            f"message {n} {PADDING}": slack_workspace.user_message(
                incident.channel_id, "UBOB", f"message {n} {PADDING}"
            )
            for n in range(MESSAGES)
        }

        async def quiet() -> bool:
            return not (await bot.services.storage.outbox_counts()).get("pending")

        await eventually(quiet)
        storage = bot.services.storage
        if fill == "max_page_count":
            ((pages,),) = await _writer(storage, "PRAGMA page_count")
            await _writer(storage, f"PRAGMA max_page_count = {pages + 40}")
            answers = await _send_all(bot.sender.event, bodies)
            await _writer(storage, "PRAGMA max_page_count = 4294967294")
        else:
            await _writer(
                storage, "PRAGMA wal_checkpoint(TRUNCATE)"
            )  # the WAL starts empty
            with files_cannot_grow_past(512 * 1024):
                answers = await _send_all(bot.sender.event, bodies)
        acknowledged = {text for text, a in answers.items() if a.status == 200}
        refused = {text for text, a in answers.items() if a.status != 200}
        # Slack retries what was not acknowledged; with room again, each is stored once.
        retried = await _send_all(
            bot.sender.event,
            {t: bodies[t] for t in refused},
            retry_num=1,
            retry_reason="http_error",
        )
    stored = _stored_messages(
        bot_settings.database_path
    )  # reopened after the bot stopped
    lost = len(acknowledged - set(stored))
    assert lost == 0, f"{lost} of {len(acknowledged)} acknowledged messages were lost"
    assert acknowledged, "nothing fitted before the disk was full"
    assert refused, "the disk never filled"
    assert {a.status for a in retried.values()} == {200}
    assert sorted(stored) == sorted(bodies), "each message stored exactly once"


async def test_durability_the_writer_commits_with_synchronous_full(tmp_path):
    storage = Storage(tmp_path / "w.db")
    await storage.open()
    try:
        assert await _writer(storage, "PRAGMA synchronous") == [(2,)]  # 2 is FULL
        assert await _writer(storage, "PRAGMA journal_mode") == [("wal",)]
    finally:
        await storage.close()


async def test_durability_readyz_writes_nothing(bot_settings, start_bot):
    async with start_bot(bot_settings) as bot:
        with closing(sqlite3.connect(bot_settings.database_path)) as db:
            db.execute("PRAGMA user_version = 13")
            async with aiohttp.ClientSession() as http:
                for _ in range(3):
                    async with http.get(f"{bot.base_url}/readyz") as response:
                        body = await response.json()
                    assert response.status == 200, body
                    assert body["database"] is True
            # the probe used to write `PRAGMA user_version = 0` (and a WAL frame) every time
            assert db.execute("PRAGMA user_version").fetchone() == (13,)


# -- start-up refuses a database it cannot use, and writes nothing to it ------------------------


async def _database_with_history(path: Path) -> None:
    """A database warroom wrote and closed cleanly: an incident with a few pages of timeline."""
    storage = Storage(path)
    await storage.open()
    try:
        draft = incident_draft("inc-1-t")
        number = (await storage.create_incident(draft, source="x")).number
        for n in range(40):
            entry = NewEntry(kind="note", text=f"note {n} {PADDING}")
            await storage.append(number, [entry], now=NOW)
    finally:
        await storage.close()


def _overwrite_timeline_page(path: Path) -> None:
    with closing(sqlite3.connect(path)) as db:
        (root,) = db.execute(
            "select rootpage from sqlite_master where name = 'timeline'"
        ).fetchone()
        (size,) = db.execute("PRAGMA page_size").fetchone()
    data = bytearray(path.read_bytes())
    data[(root - 1) * size : root * size] = random.Random(13).randbytes(size)
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _record_unknown_migration(path: Path) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(
            "insert into _sqlite_migrations (migration_set, name, applied_at)"
            " values ('incident-bot', 'm999_from_a_newer_warroom', '2027-01-01 00:00:00+00:00')"
        )


DAMAGE = {
    "page_overwritten": (_overwrite_timeline_page, "is damaged"),
    "truncated": (_truncate, "is damaged"),
    "unknown_migration": (_record_unknown_migration, "m999_from_a_newer_warroom"),
}


def _digest(path: Path) -> str:
    """The file's SHA-256, once it was closed cleanly (its WAL checkpointed and removed)."""
    assert not Path(f"{path}-wal").exists()
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(params=sorted(DAMAGE))
async def unusable(request, tmp_path: Path) -> tuple[Path, str, str]:
    """(path, its sha256, the message expected) of a database made unusable one way."""
    path = tmp_path / "warroom.db"
    await _database_with_history(path)
    damage, expected = DAMAGE[request.param]
    damage(path)
    return path, _digest(path), expected


def _untouched(path: Path, digest: str) -> None:
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, "it was written"
    wal = Path(f"{path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0, "frames were written to its WAL"


async def test_durability_an_unusable_database_is_refused_at_start_and_left_as_it_was(
    unusable: tuple[Path, str, str], bot_settings, start_bot
):
    path, digest, expected = unusable
    settings = bot_settings.model_copy(update={"database_path": path})
    with pytest.raises(DatabaseUnusable, match=expected) as refused:
        async with start_bot(settings):
            pass
    message = refused.value.message
    assert str(path) in message
    assert "has not written to it" in message
    assert "restore" in message.lower()
    _untouched(path, digest)


async def test_durability_warroom_run_prints_one_message_for_a_damaged_database(
    tmp_path: Path, slack_server: RunningWorkspace
):
    path = tmp_path / "warroom.db"
    await _database_with_history(path)
    _overwrite_timeline_page(path)
    digest = _digest(path)
    env = bot_env(path, slack_server, free_port())
    result = await asyncio.to_thread(warroom_cli, "run", env=env)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert f"The database {path} is damaged" in result.stderr
    assert "Restore the file from your last backup" in result.stderr
    _untouched(path, digest)


async def test_durability_damage_while_running_turns_readyz_red(
    bot_settings, start_bot
):
    settings = bot_settings.model_copy(update={"integrity_check_seconds": 1})
    async with start_bot(settings) as bot, aiohttp.ClientSession() as http:
        path = settings.database_path
        with closing(sqlite3.connect(path)) as db:
            db.execute(
                "PRAGMA wal_checkpoint(TRUNCATE)"
            )  # every page in the file itself
        _overwrite_timeline_page(path)

        async def red() -> dict[str, Any] | None:
            async with http.get(f"{bot.base_url}/readyz") as response:
                body: dict[str, Any] = await response.json()
                return body if response.status == 503 else None

        body = await eventually(red)
        assert body["database_integrity"] != "ok"
        assert body["ready"] is False


async def test_durability_a_note_the_disk_refused_after_its_ack_is_done_at_the_next_start(
    bot_settings, start_bot, slack_workspace: SlackWorkspace
):
    """The command is journaled and acknowledged, then its listener's write finds the disk full:
    the request stays pending (not ended failed) and the next start does it."""
    texts = [f"note {n} {PADDING}" for n in range(MESSAGES)]
    bot_settings = bot_settings.model_copy(update={"commands_per_minute": 0})
    async with start_bot(bot_settings) as bot:
        incident = await declare(bot, slack_workspace)
        assert incident.channel_id
        storage = bot.services.storage
        ((pages,),) = await _writer(storage, "PRAGMA page_count")
        await _writer(storage, f"PRAGMA max_page_count = {pages + 40}")
        answers = await asyncio.gather(
            *(
                bot.sender.command(f"note {t}", channel_id=incident.channel_id)
                for t in texts
            )
        )
        acknowledged = [
            t for t, a in zip(texts, answers, strict=True) if a.status == 200
        ]
        await _writer(storage, "PRAGMA max_page_count = 4294967294")
    # room again: the next start replays what is pending
    async with start_bot(bot_settings) as bot:
        await eventually(lambda: _nothing_pending(bot.services.storage))
    with closing(sqlite3.connect(bot_settings.database_path)) as db:
        notes = [
            r[0] for r in db.execute("select text from timeline where kind = 'note'")
        ]
        failed = db.execute("select count(*) from inbox where status = 'failed'")
        assert failed.fetchone() == (0,)
    assert acknowledged, "nothing was acknowledged"
    assert sorted(notes) == sorted(acknowledged), "each acknowledged note done once"


async def _nothing_pending(storage: Storage) -> bool:
    return not await storage.inbox_pending()
