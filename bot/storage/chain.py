"""Verification of an incident's hash-chained timeline: OK with the head hash, or the first bad row.

Owns the chain rules: seq runs 1, 2, 3 ... without gaps; each row's `prev_hash` is the previous
row's `hash` (GENESIS for the first); each row's `hash` is `row_hash` of its stored values. So an
edited row fails its own hash, a deleted row leaves a seq gap, an inserted row is skipped by the
link of the row after it, and reordered rows break their links. A truncated tail or a rewritten
chain is caught only against a head hash published earlier (Slack's copy): pass it as
`expected_head`. Rows are streamed; nothing here holds a timeline in memory. Never writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import sha256
from json.encoder import encode_basestring_ascii  # the C escaper json.dumps uses
from pathlib import Path
from typing import Any

from bot.storage import GENESIS, row_hash
from bot.storage.snapshot import TIMELINE_COLUMNS, Snapshot


@dataclass(frozen=True)
class ChainBreak:
    """The first row whose link or hash is broken (`seq` None: the chain as a whole)."""

    seq: int | None
    row_id: int | None
    kind: str | None
    reason: str


@dataclass(frozen=True)
class ChainReport:
    incident: int
    rows: int
    head_hash: str
    broken: ChainBreak | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def describe(self) -> str:
        """One line for people: OK with the head hash, or the first bad row and why."""
        key = f"INC-{self.incident}"
        if self.broken is None:
            return f"OK {key}: {self.rows} rows, head hash {self.head_hash}"
        b = self.broken
        where = (
            f"row seq {b.seq} (id {b.row_id}, {b.kind})"
            if b.seq is not None
            else "chain"
        )
        return f"BROKEN {key}: {where}: {b.reason}"

    def as_dict(self) -> dict[str, Any]:
        broken = self.broken.__dict__ if self.broken else None
        return {
            "rows": self.rows,
            "head_hash": self.head_hash,
            "verified": self.ok,
            "first_bad": broken,
        }


# Column positions in `TIMELINE_COLUMNS` order.
(
    _ID,
    _INC,
    _SEQ,
    _KIND,
    _ACTOR,
    _TEXT,
    _DATA,
    _OCC,
    _REC,
    _TS,
    _LINK,
    _KEY,
    _FIX,
    _PREV,
    _HASH,
) = range(15)
_CANONICAL = (
    '{"actor":%s,"corrects":%s,"data":%s,"incident":%s,"key_event":%s,"kind":%s,"occurred_at":%s,'
    '"permalink":%s,"prev_hash":%s,"recorded_at":%s,"seq":%s,"slack_ts":%s,"text":%s}'
)


_str = encode_basestring_ascii  # TypeError unless given a str
_int = int.__repr__  # TypeError unless given an int (SQLite never returns a bool)


def _json(value: Any) -> str:
    if value is None:
        return "null"
    kind = type(value)
    if kind is str:
        return encode_basestring_ascii(value)
    if kind is int:
        return int.__repr__(value)
    raise TypeError(kind)


def values_hash(v: tuple[Any, ...]) -> str:
    """`row_hash` of a row given as a `TIMELINE_COLUMNS` tuple, byte for byte, without building a dict.

    The canonical JSON (sorted keys, no spaces, ASCII escapes) is spelled out for the str/int/None
    values SQLite returns; any other type falls back to `row_hash` itself.
    """
    if not _FAST_PATH_AGREES:
        return row_hash(dict(zip(TIMELINE_COLUMNS, v, strict=True)))
    try:
        text = _CANONICAL % (
            # Columns that are always text or always integers are escaped directly: a value of
            # any other type (e.g. a NULL text written by raw SQL) raises TypeError: the slow path.
            _json(v[_ACTOR]),
            _json(v[_FIX]),
            _str(v[_DATA]),
            _int(v[_INC]),
            _int(v[_KEY]),
            _str(v[_KIND]),
            _str(v[_OCC]),
            _json(v[_LINK]),
            _str(v[_PREV]),
            _str(v[_REC]),
            _int(v[_SEQ]),
            _json(v[_TS]),
            _str(v[_TEXT]),
        )
    except TypeError:
        return row_hash(dict(zip(TIMELINE_COLUMNS, v, strict=True)))
    return sha256(text.encode()).hexdigest()


# Should `row_hash` ever change its canonical form, the spelled-out copy above must not drift from it.
_SAMPLE = (
    1,
    2,
    3,
    "note",
    "UALICE",
    'é " <x>',
    '{"a": 1}',
    "2026-01-05T10:00:00.000000Z",
    "2026-01-05T10:00:00.000000Z",
    None,
    None,
    0,
    None,
    GENESIS,
    "",
)
_FAST_PATH_AGREES = True
_FAST_PATH_AGREES = values_hash(_SAMPLE) == row_hash(
    dict(zip(TIMELINE_COLUMNS, _SAMPLE, strict=True))
)


class ChainVerifier:
    """Feed rows in seq order; keeps only the last two hashes, so it runs in constant memory."""

    def __init__(self, incident: int, *, expected_head: str | None = None) -> None:
        self.incident, self.expected_head = incident, expected_head
        self.rows, self.head = 0, GENESIS
        self._before_head = (
            GENESIS  # hash of the row before the head (spots an inserted row)
        )
        self._last: tuple[Any, ...] | None = None
        self._head_seen = expected_head is None
        self.broken: ChainBreak | None = None

    def feed(self, row: dict[str, Any]) -> None:
        """Check the next row, given as a dict of its stored columns."""
        self.feed_values(tuple(row.get(c) for c in TIMELINE_COLUMNS))

    def feed_values(self, v: tuple[Any, ...]) -> None:
        """Check the next row, given as a `TIMELINE_COLUMNS` tuple."""
        if self.broken is not None:
            return
        seq, expected = v[_SEQ], self.rows + 1
        if seq != expected:
            missing = f"{expected}" if seq == expected + 1 else f"{expected}-{seq - 1}"
            self._break(
                v, f"seq {seq} follows seq {self.rows}: row(s) {missing} were deleted"
            )
        elif v[_PREV] != self.head:
            if self._last is not None and v[_PREV] == self._before_head:
                self._break(
                    self._last,
                    f"inserted: row seq {seq} links to the row before it, not to it",
                )
            else:
                self._break(
                    v,
                    "prev_hash does not match the previous row's hash: rows were "
                    "deleted, inserted or reordered before it",
                )
        elif values_hash(v) != v[_HASH]:
            self._break(v, "its content does not match its hash: the row was edited")
        else:
            self.rows += 1
            self._before_head, self.head, self._last = self.head, v[_HASH], v
            if v[_HASH] == self.expected_head:
                self._head_seen = True

    def _break(self, v: tuple[Any, ...], reason: str) -> None:
        self.broken = ChainBreak(v[_SEQ], v[_ID], v[_KIND], reason)

    def report(self) -> ChainReport:
        broken = self.broken
        if broken is None and not self._head_seen:
            broken = ChainBreak(
                None,
                None,
                None,
                f"the published head hash {self.expected_head} is "
                "not in the chain: rows were removed from its end or the chain was rewritten",
            )
        return ChainReport(self.incident, self.rows, self.head, broken)


def verify_incident(
    database: Path | str, number: int, *, expected_head: str | None = None
) -> ChainReport:
    """Stream INC-`number`'s chain from the database file (blocking: run it off the event loop)."""
    with Snapshot(database) as snap:
        snap.incident(number)
        verifier = ChainVerifier(number, expected_head=expected_head)
        for values in snap.timeline_values(number):
            verifier.feed_values(values)
            if verifier.broken is not None:
                break
        return verifier.report()
