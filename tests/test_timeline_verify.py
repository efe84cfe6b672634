"""Tamper evidence: rows edited, deleted, inserted or reordered by raw SQL on the real SQLite file are
named by `warroom verify` (run in-process through `bot.cli.main.main`, and once as a subprocess)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cli.main import main
from bot.models.incidents import Incident, NewEntry
from bot.storage import GENESIS, Storage, row_hash
from bot.storage.chain import values_hash
from bot.storage.snapshot import TIMELINE_COLUMNS
from tests.flows import command_in, declare, eventually
from tests.plugins.bot import RunningBot

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


async def _chained_db(path: Path, notes: int = 6) -> Path:
    """An incident with `notes` notes, written through the storage layer (the same code the bot uses)."""
    storage = Storage(path)
    await storage.open()
    try:
        incident = Incident(
            number=0,
            title="Database down",
            severity="SEV1",
            commander="UALICE",
            channel_name="inc-1-database-down",
            declared_by="UALICE",
            declared_at=T0,
        )
        created = await storage.create_incident(incident, source="test:declare")
        for i in range(notes):
            entry = NewEntry(
                kind="note", actor="UBOB", text=f"note {i + 1}", source=f"test:{i}"
            )
            await storage.append(created.number, [entry], now=T0 + timedelta(minutes=i))
    finally:
        await storage.close()
    return path


def _sql(path: Path, *statements: str) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        for statement in statements:
            db.execute(statement)


def _verify(
    path: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str]:
    code = main(["verify", "INC-1", "--database", str(path), *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


async def test_verify_untouched_chain_prints_ok_and_head_hash(tmp_path, capsys):
    db = await _chained_db(tmp_path / "w.db")
    code, out = _verify(db, capsys)
    with closing(sqlite3.connect(db)) as conn:
        head = conn.execute(
            "select hash from timeline order by seq desc limit 1"
        ).fetchone()[0]
    assert code == 0
    assert out.strip() == f"OK INC-1: 6 rows, head hash {head}"


async def test_verify_edited_row_is_named(tmp_path, capsys):
    db = await _chained_db(tmp_path / "w.db")
    _sql(db, "update timeline set text = 'nothing to see' where seq = 3")
    code, out = _verify(db, capsys)
    assert code == 1
    assert "BROKEN INC-1: row seq 3 (id 3, note)" in out
    assert "edited" in out


async def test_verify_null_or_retyped_value_written_by_raw_sql_is_an_edit(
    tmp_path, capsys
):
    db = await _chained_db(tmp_path / "w.db")
    _sql(
        db,
        "update timeline set text = NULL where seq = 2",
        "update timeline set seq = 4.0 where seq = 4",
    )
    code, out = _verify(db, capsys)
    assert code == 1
    assert "row seq 2 (id 2, note): its content does not match its hash" in out


async def test_verify_deleted_row_shows_as_seq_gap(tmp_path, capsys):
    db = await _chained_db(tmp_path / "w.db")
    _sql(db, "delete from timeline where seq = 3")
    code, out = _verify(db, capsys)
    assert code == 1
    assert "row seq 4 (id 4, note): seq 4 follows seq 2: row(s) 3 were deleted" in out


async def test_verify_deleted_and_renumbered_row_breaks_the_link(tmp_path, capsys):
    db = await _chained_db(tmp_path / "w.db")
    _sql(
        db,
        "delete from timeline where seq = 3",
        "update timeline set seq = seq - 1 where seq > 3",
    )
    code, out = _verify(db, capsys)
    assert code == 1
    assert "row seq 3 (id 4, note): prev_hash does not match" in out


async def test_verify_inserted_row_with_a_valid_hash_is_named(tmp_path, capsys):
    db = await _chained_db(tmp_path / "w.db")
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.row_factory = sqlite3.Row
        conn.execute("update timeline set seq = -seq where seq > 2")
        conn.execute("update timeline set seq = 1 - seq where seq < 0")
        before = dict(conn.execute("select * from timeline where seq = 2").fetchone())
        forged = {**before, "seq": 3, "text": "forged", "prev_hash": before["hash"]}
        forged.pop("id")
        forged["source"] = "forged"
        forged["hash"] = row_hash(forged)
        conn.execute(
            f"insert into timeline ({', '.join(forged)}) values ({', '.join('?' * len(forged))})",
            list(forged.values()),
        )
    code, out = _verify(db, capsys)
    assert code == 1
    assert "row seq 3 (id 7, note): inserted" in out


async def test_verify_inserted_row_at_the_end_fails_its_hash(tmp_path, capsys):
    db = await _chained_db(tmp_path / "w.db")
    with closing(sqlite3.connect(db)) as conn, conn:
        head = conn.execute(
            "select hash from timeline order by seq desc limit 1"
        ).fetchone()[0]
        conn.execute(
            "insert into timeline (incident, seq, kind, text, data, occurred_at, recorded_at,"
            " key_event, prev_hash, hash) values (1, 7, 'note', 'late', '{}', ?, ?, 0, ?, ?)",
            [
                "2026-01-05T11:00:00.000000Z",
                "2026-01-05T11:00:00.000000Z",
                head,
                "f" * 64,
            ],
        )
    code, out = _verify(db, capsys)
    assert code == 1
    assert "row seq 7 (id 7, note): its content does not match its hash" in out


async def test_verify_reordered_rows_are_named(tmp_path, capsys):
    db = await _chained_db(tmp_path / "w.db")
    _sql(
        db,
        "update timeline set seq = -3 where seq = 3",
        "update timeline set seq = 3 where seq = 4",
        "update timeline set seq = 4 where seq = -3",
    )
    code, out = _verify(db, capsys)
    assert code == 1
    assert (
        "row seq 3 (id 4, note): prev_hash does not match the previous row's hash"
        in out
    )


async def test_verify_truncated_tail_is_caught_against_the_published_head(
    tmp_path, capsys
):
    db = await _chained_db(tmp_path / "w.db")
    with closing(sqlite3.connect(db)) as conn:
        head = conn.execute(
            "select hash from timeline order by seq desc limit 1"
        ).fetchone()[0]
    _sql(db, "delete from timeline where seq = 6")
    assert _verify(db, capsys)[0] == 0  # a cut tail leaves a valid chain ...
    # ... that lacks the head Slack was shown
    code, out = _verify(db, capsys, "--head", head)
    assert code == 1
    assert f"the published head hash {head} is not in the chain" in out


async def test_verify_unknown_incident_or_database_exits_2(tmp_path, capsys):
    db = await _chained_db(tmp_path / "w.db")
    assert main(["verify", "INC-9", "--database", str(db)]) == 2
    assert "INC-9 does not exist" in capsys.readouterr().err
    assert main(["verify", "INC-1", "--database", str(tmp_path / "missing.db")]) == 2
    assert not (tmp_path / "missing.db").exists()
    assert main(["verify", "bogus", "--database", str(db)]) == 2


async def test_verify_after_a_real_incident_runs_as_a_subprocess(
    bot: RunningBot, slack_workspace, tmp_path
):
    incident = await declare(bot, slack_workspace)
    await command_in(bot, incident, "note payload service down since 10:02")
    await command_in(bot, incident, "status identified")

    async def three() -> bool:
        return len(await bot.services.storage.timeline(incident.number)) >= 4

    await eventually(three)
    db = bot.settings.database_path
    code, out, err = await _warroom("verify", incident.key, "--database", str(db))
    assert code == 0, err
    head = (await bot.services.storage.timeline(incident.number, last=1))[0].hash
    assert out.strip() == f"OK {incident.key}: 4 rows, head hash {head}"

    _sql(
        db,
        "update timeline set data = json_set(data, '$.to', 'resolved') where kind = 'status'",
    )
    code, out, _ = await _warroom("verify", incident.key, "--database", str(db))
    assert code == 1
    assert "row seq 4 (id 4, status)" in out
    assert "edited" in out


async def _warroom(*args: str) -> tuple[int | None, str, str]:
    """Run `python -m bot ...` as a separate process, as an operator would."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode, out.decode(), err.decode()


@given(
    text=st.text(),
    actor=st.none() | st.text(max_size=12),
    data=st.dictionaries(
        st.text(max_size=5), st.text(max_size=5) | st.integers(), max_size=3
    ),
    seq=st.integers(min_value=1, max_value=2**40),
    corrects=st.none() | st.integers(min_value=1, max_value=10**6),
)
def test_values_hash_equals_row_hash(text, actor, data, seq, corrects):
    row = {
        "id": 1,
        "incident": 3,
        "seq": seq,
        "kind": "note",
        "actor": actor,
        "text": text,
        "data": json.dumps(data, sort_keys=True),
        "occurred_at": "2026-01-05T10:00:00.000000Z",
        "recorded_at": "2026-01-05T10:00:01.000000Z",
        "slack_ts": None,
        "permalink": None,
        "key_event": 1,
        "corrects": corrects,
        "prev_hash": GENESIS,
    }
    row["hash"] = row_hash(row)
    assert values_hash(tuple(row[c] for c in TIMELINE_COLUMNS)) == row["hash"]
