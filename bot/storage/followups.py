"""Storage section: follow-ups, one list per incident, and their trail on the incident's timeline.

Every change to a follow-up (added, exported to the tracker, done or reopened) is written in the
same transaction as its timeline row, so the chained timeline and the list never disagree. The
text is stored redacted (bot.redaction), as the timeline's is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from bot.models.followups import FollowUp, FollowUpKind, FollowUpState, Priority
from bot.models.incidents import NewEntry, from_iso, to_iso
from bot.redaction import redact_secrets
from bot.storage.timeline import TimelineStore


def followup_of(row: dict[str, Any]) -> FollowUp:
    data = {k: v for k, v in row.items() if v is not None and k != "source"}
    for name in ("created_at", "done_at"):
        if name in data:
            data[name] = from_iso(data[name])
    return FollowUp.model_validate(data)


def describe(item: FollowUp) -> str:
    """One line for the timeline: what, of which type, whose, by when."""
    kind = item.kind.value if item.kind else "untyped"
    owner = f", owner {item.owner}" if item.owner else ""
    due = f", due {item.due.isoformat()}" if item.due else ""
    return (
        f"Follow-up #{item.id} ({kind}, {item.priority.value}{owner}{due}): {item.text}"
    )


class FollowUpStore(TimelineStore):
    async def followup_add(
        self,
        *,
        incident: int,
        text: str,
        kind: FollowUpKind | None,
        priority: Priority,
        owner: str | None,
        due: date | None,
        actor: str,
        source: str,
        now: datetime,
    ) -> tuple[FollowUp, bool]:
        """Add a follow-up and its timeline row; (the item, False) when `source` added it before."""

        def write() -> tuple[dict[str, Any], bool]:
            found = self._one("select * from followups where source = ?", [source])
            if found:
                return found, False
            cursor = self.db.execute(
                "insert into followups (incident, text, kind, priority, owner, due, state,"
                " created_by, created_at, source) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    incident,
                    redact_secrets(text),
                    kind.value if kind else None,
                    priority.value,
                    owner,
                    due.isoformat() if due else None,
                    FollowUpState.OPEN.value,
                    actor,
                    to_iso(now),
                    source,
                ],
            )
            row = self._one("select * from followups where id = ?", [cursor.lastrowid])
            assert row is not None
            item = followup_of(row)
            entry = NewEntry(
                kind="followup",
                actor=actor,
                text=describe(item),
                data={"followup": item.id},
                source=f"{source}:followup",
            )
            self._append_rows(incident, [entry], now)
            return row, True

        row, new = await self._call_batched(write)
        return followup_of(row), new

    async def followup(self, followup_id: int) -> FollowUp | None:
        row = await self._call(
            self._one, "select * from followups where id = ?", [followup_id]
        )
        return followup_of(row) if row else None

    async def followup_filed_as(self, tracker: str, key: str) -> FollowUp | None:
        """The follow-up filed in `tracker` as issue `key`, if any."""
        row = await self._call(
            self._one,
            "select * from followups where tracker = ? and tracker_key = ?",
            [tracker, key],
        )
        return followup_of(row) if row else None

    async def followups(
        self, incident: int | None = None, *, open_only: bool = False
    ) -> list[FollowUp]:
        """An incident's follow-ups (or everyone's), oldest first."""
        sql, params = "select * from followups where 1 = 1", list[Any]()
        if incident is not None:
            sql, params = sql + " and incident = ?", [incident]
        if open_only:
            sql, params = sql + " and state = ?", [*params, FollowUpState.OPEN.value]
        rows = await self._call(
            lambda: list(self.db.query(sql + " order by id", params))
        )
        return [followup_of(r) for r in rows]

    async def followup_exported(
        self, followup_id: int, *, tracker: str, key: str, url: str, now: datetime
    ) -> FollowUp | None:
        """Record the tracker's issue for a follow-up not exported before (None: it was)."""

        def write() -> dict[str, Any] | None:
            return self._changed(
                "update followups set tracker = ?, tracker_key = ?, tracker_url = ?"
                " where id = ? and tracker_key is null",
                [tracker, key, url, followup_id],
                followup_id,
                lambda row: NewEntry(
                    kind="followup_exported",
                    text=f"Follow-up #{followup_id} is {tracker} issue {key}: {url}",
                    data={
                        "followup": followup_id,
                        "tracker": tracker,
                        "key": key,
                        "url": url,
                    },
                ),
                now,
            )

        row = await self._call_batched(write)
        return None if row is None else followup_of(row)

    async def followup_state(
        self,
        followup_id: int,
        *,
        done: bool,
        actor: str | None,
        via: str,
        now: datetime,
    ) -> FollowUp | None:
        """Mark a follow-up done or open again, with a timeline row; None when it already was."""
        state = FollowUpState.DONE if done else FollowUpState.OPEN
        word = "done" if done else "reopened"

        def write() -> dict[str, Any] | None:
            return self._changed(
                "update followups set state = ?, done_at = ? where id = ? and state != ?",
                [state.value, to_iso(now) if done else None, followup_id, state.value],
                followup_id,
                lambda row: NewEntry(
                    kind=f"followup_{word}",
                    actor=actor,
                    text=f"Follow-up #{followup_id} {word} ({via}): {row['text']}",
                    data={"followup": followup_id, "via": via},
                ),
                now,
            )

        row = await self._call_batched(write)
        return None if row is None else followup_of(row)

    def _changed(
        self,
        sql: str,
        params: list[Any],
        followup_id: int,
        entry_of: Callable[[dict[str, Any]], NewEntry],
        now: datetime,
    ) -> dict[str, Any] | None:
        """Run one conditional update of a follow-up; if it changed the row, append its timeline
        entry (inside the caller's transaction) and return the row, else None."""
        self.db.execute(sql, params)
        if not self.db.execute("select changes()").fetchone()[0]:
            return None
        row = self._one("select * from followups where id = ?", [followup_id])
        assert row is not None
        self._append_rows(row["incident"], [entry_of(row)], now)
        return row

    async def followups_reminded(self, ids: list[int], *, today: date) -> None:
        if ids:
            marks = ", ".join("?" for _ in ids)
            await self._call(
                self.db.execute,
                f"update followups set reminded_on = ? where id in ({marks})",
                [today.isoformat(), *ids],
            )
