"""Hash-chained timeline verification (`bot/storage/chain.py`) against a real SQLite file.

Rows are written through `Storage.append` (the code the bot uses), then tampered with by raw
sqlite3: every hashed column of one row edited in turn, a row deleted, rows reordered. The column
list comes from `TIMELINE_COLUMNS` (what the verifier reads) and is checked against the table's real
schema, so a new column is covered without editing this file.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.models.incidents import Incident, NewEntry
from bot.storage import GENESIS, Storage, row_hash
from bot.storage import chain as chain_module
from bot.storage.chain import (
    ChainBreak,
    ChainReport,
    ChainVerifier,
    values_hash,
    verify_incident,
)
from bot.storage.snapshot import TIMELINE_COLUMNS

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
ROWS = 4
EDITED_SEQ = 2  # a row in the middle: it has a row before and after it
# Columns that are not content: the row's storage id and its own hash. Everything else the verifier
# reads must be covered by the row's hash.
NOT_HASHED = ("id", "hash")
HASHED_COLUMNS = [c for c in TIMELINE_COLUMNS if c not in NOT_HASHED]
# Timeline columns the verifier deliberately does not read: the append idempotency key.
UNVERIFIED = {"source"}
# Editing these takes the row out of its place in the incident's chain: the break is then reported
# as a gap at the row after it.
MOVE_THE_ROW = {"incident", "seq"}


@dataclass(frozen=True)
class Chain:
    path: Path
    ids: dict[int, int]  # seq -> row id, incident 1


async def _incident(storage: Storage, n: int) -> int:
    incident = Incident(
        number=0,
        title=f"Database down {n}",
        severity="SEV1",
        commander="UALICE",
        channel_name=f"inc-{n}-database-down",
        declared_by="UALICE",
        declared_at=T0,
    )
    return (await storage.create_incident(incident, source=f"test:declare:{n}")).number


def _entry(i: int, incident: int) -> NewEntry:
    """A fully populated entry: no hashed column is NULL, so every one can be edited."""
    return NewEntry(
        kind="note" if i % 2 else "status",
        actor=f"U{i:04d}",
        text=f"note {i} for INC-{incident}",
        data={"n": i, "who": ["UBOB"]},
        occurred_at=T0 + timedelta(minutes=i),
        slack_ts=f"1767607200.{i:06d}",
        permalink=f"https://example.slack.com/archives/C1/p{i}",
        key_event=True,
        corrects=max(i - 1, 1),
        source=f"test:{incident}:{i}",
    )


@pytest.fixture
async def chain(tmp_path: Path) -> Chain:
    """INC-1 and INC-2, each with `ROWS` entries appended one by one through `Storage`."""
    path = tmp_path / "warroom.db"
    storage = Storage(path)
    await storage.open()
    try:
        for n in (1, 2):
            number = await _incident(storage, n)
            assert number == n
            for i in range(1, ROWS + 1):
                await storage.append(
                    number,
                    [_entry(i, number)],
                    now=T0 + timedelta(minutes=i, seconds=1),
                )
    finally:
        await storage.close()
    with closing(sqlite3.connect(path)) as db:
        ids = dict(db.execute("select seq, id from timeline where incident = 1"))
    assert sorted(ids) == list(range(1, ROWS + 1))
    return Chain(path, ids)


def _sql(path: Path, sql: str, *args: Any) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(sql, args)


def _value(path: Path, column: str, row_id: int) -> Any:
    with closing(sqlite3.connect(path)) as db:
        return db.execute(
            f"select {column} from timeline where id = ?", [row_id]
        ).fetchone()[0]


def _tampered(value: Any) -> Any:
    """A different value of the same type: an int moved, one character of a text changed."""
    if isinstance(value, int):
        return value + 1000
    assert isinstance(value, str)
    assert value
    return value[:-1] + ("0" if value[-1] != "0" else "1")


def _assert_broken_at(report: ChainReport, row_id: int) -> ChainBreak:
    """Assert the report names row `row_id` of INC-1 as the first bad row; return the break."""
    broken = report.broken
    assert not report.ok
    assert broken is not None
    assert report.incident == 1
    assert broken.row_id == row_id
    assert report.describe().startswith(
        f"BROKEN INC-1: row seq {broken.seq} (id {row_id}, "
    )
    return broken


# -- the column list ----------------------------------------------------------------------------


def test_the_verifier_reads_every_column_of_the_timeline_table(chain: Chain) -> None:
    with closing(sqlite3.connect(chain.path)) as db:
        schema = {row[1] for row in db.execute("pragma table_info(timeline)")}
    # A column added to the table but not to TIMELINE_COLUMNS would be neither read nor hashed.
    assert schema - UNVERIFIED == set(TIMELINE_COLUMNS)
    assert "actor" in HASHED_COLUMNS


def test_stored_hashes_are_row_hash_of_the_stored_values(chain: Chain) -> None:
    with closing(sqlite3.connect(chain.path)) as db:
        rows = db.execute(
            f"select {', '.join(TIMELINE_COLUMNS)} from timeline order by incident, seq"
        ).fetchall()
    assert len(rows) == 2 * ROWS
    prev = {1: GENESIS, 2: GENESIS}
    for values in rows:
        row = dict(zip(TIMELINE_COLUMNS, values, strict=True))
        assert row["prev_hash"] == prev[row["incident"]]
        assert values_hash(values) == row_hash(row) == row["hash"]
        prev[row["incident"]] = row["hash"]


def test_the_fast_path_hash_has_not_drifted_from_row_hash() -> None:
    # `values_hash` spells the canonical JSON out and falls back to `row_hash` when its own sample
    # disagrees: verification stays correct, but a drift (e.g. a column left out) must not hide.
    assert chain_module._FAST_PATH_AGREES is True


# -- untouched -------------------------------------------------------------------------------------


@pytest.mark.parametrize("number", [1, 2])
def test_untouched_chain_verifies_with_its_head_hash(chain: Chain, number: int) -> None:
    with closing(sqlite3.connect(chain.path)) as db:
        head = db.execute(
            "select hash from timeline where incident = ? order by seq desc limit 1",
            [number],
        ).fetchone()[0]
    report = verify_incident(chain.path, number)
    assert report.ok, report.describe()
    assert (report.rows, report.head_hash) == (ROWS, head)
    assert report.describe() == f"OK INC-{number}: {ROWS} rows, head hash {head}"
    assert verify_incident(chain.path, number, expected_head=head).ok


# -- one column of one row edited ----------------------------------------------------------------


@pytest.mark.parametrize("column", HASHED_COLUMNS)
def test_editing_any_hashed_column_of_a_row_breaks_the_chain(
    chain: Chain, column: str
) -> None:
    edited = chain.ids[EDITED_SEQ]
    before = _value(chain.path, column, edited)
    _sql(
        chain.path,
        f"update timeline set {column} = ? where id = ?",
        _tampered(before),
        edited,
    )
    assert _value(chain.path, column, edited) != before

    report = verify_incident(chain.path, 1)

    named = chain.ids[EDITED_SEQ + 1] if column in MOVE_THE_ROW else edited
    _assert_broken_at(report, named)
    # The other incident's chain is untouched and still verifies.
    assert verify_incident(chain.path, 2).ok


@pytest.mark.parametrize("column", HASHED_COLUMNS)
def test_nulling_any_hashed_column_is_refused_or_breaks_the_chain(
    chain: Chain, column: str
) -> None:
    edited = chain.ids[EDITED_SEQ]
    try:
        _sql(chain.path, f"update timeline set {column} = NULL where id = ?", edited)
    except sqlite3.IntegrityError:
        assert (
            _value(chain.path, column, edited) is not None
        )  # NOT NULL: nothing changed
        return
    report = verify_incident(chain.path, 1)
    named = chain.ids[EDITED_SEQ + 1] if column in MOVE_THE_ROW else edited
    _assert_broken_at(report, named)


def test_editing_the_stored_hash_breaks_the_chain(chain: Chain) -> None:
    edited = chain.ids[EDITED_SEQ]
    _sql(
        chain.path,
        "update timeline set hash = ? where id = ?",
        _tampered(_value(chain.path, "hash", edited)),
        edited,
    )
    broken = _assert_broken_at(verify_incident(chain.path, 1), edited)
    assert "edited" in broken.reason


def test_edited_row_with_a_recomputed_hash_is_caught_by_the_next_link(
    chain: Chain,
) -> None:
    # A forger who rehashes the edited row still breaks the link of the row after it.
    edited = chain.ids[EDITED_SEQ]
    with closing(sqlite3.connect(chain.path)) as db, db:
        values = db.execute(
            f"select {', '.join(TIMELINE_COLUMNS)} from timeline where id = ?", [edited]
        ).fetchone()
        row = dict(zip(TIMELINE_COLUMNS, values, strict=True))
        row["actor"] = "UMALLORY"
        db.execute(
            "update timeline set actor = ?, hash = ? where id = ?",
            [row["actor"], row_hash(row), edited],
        )
    _assert_broken_at(verify_incident(chain.path, 1), chain.ids[EDITED_SEQ + 1])


# -- rows deleted or reordered ------------------------------------------------------------------


def test_deleted_row_is_found(chain: Chain) -> None:
    _sql(chain.path, "delete from timeline where id = ?", chain.ids[EDITED_SEQ])
    broken = _assert_broken_at(
        verify_incident(chain.path, 1), chain.ids[EDITED_SEQ + 1]
    )
    assert f"row(s) {EDITED_SEQ} were deleted" in broken.reason


def test_reordered_rows_are_found(chain: Chain) -> None:
    first, second = chain.ids[EDITED_SEQ], chain.ids[EDITED_SEQ + 1]
    with closing(sqlite3.connect(chain.path)) as db, db:
        db.execute("update timeline set seq = -1 where id = ?", [first])
        db.execute("update timeline set seq = ? where id = ?", [EDITED_SEQ, second])
        db.execute("update timeline set seq = ? where id = ?", [EDITED_SEQ + 1, first])
    # The row moved up no longer links to the row before it.
    broken = _assert_broken_at(verify_incident(chain.path, 1), second)
    assert broken.seq == EDITED_SEQ
    assert "prev_hash does not match" in broken.reason


def test_deleted_last_row_is_found_only_against_the_published_head(
    chain: Chain,
) -> None:
    head = verify_incident(chain.path, 1).head_hash
    _sql(chain.path, "delete from timeline where id = ?", chain.ids[ROWS])
    # Without the head published earlier a truncated tail looks like a shorter, valid chain.
    assert verify_incident(chain.path, 1).ok
    report = verify_incident(chain.path, 1, expected_head=head)
    assert not report.ok
    assert report.broken is not None
    assert report.broken.seq is None
    assert head in report.broken.reason


# -- the verifier fed directly ------------------------------------------------------------------


def test_verifier_fed_dicts_agrees_with_verify_incident(chain: Chain) -> None:
    edited = chain.ids[EDITED_SEQ]
    _sql(chain.path, "update timeline set actor = 'UMALLORY' where id = ?", edited)
    with closing(sqlite3.connect(chain.path)) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute(
            "select * from timeline where incident = 1 order by seq"
        ).fetchall()
    verifier = ChainVerifier(1)
    for row in rows:
        verifier.feed(dict(row))
    assert verifier.report() == verify_incident(chain.path, 1)
    _assert_broken_at(verifier.report(), edited)
