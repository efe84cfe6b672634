"""Storage section: runbook instances, their inputs and Slack cards, the step ledger, approvals, switches.

The ledger is the exactly-once guarantee: a step run is inserted once per (incident, runbook, step,
attempt), and every state change is a conditional update (`transition`) that only one caller can
win. Results are stored redacted. Nothing here decides what a transition means.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.models.incidents import CardRef, from_iso, to_iso
from bot.models.runbooks import Approval, Plan, Runbook, StepRun, StepState
from bot.redaction import redact, redact_text
from bot.storage.base import StorageBase

_JSON = ("plan", "preview_current", "preview_proposed", "result", "error")


class RunbookStore(StorageBase):
    # -- runbooks ---------------------------------------------------------------------------
    async def create_runbook(
        self,
        *,
        incident: int,
        scenario: str,
        created_by: str,
        dry_run: bool,
        now: datetime,
        source: str,
    ) -> tuple[Runbook, bool]:
        """Store a runbook once per source; return it and whether it is new."""

        def create() -> tuple[Runbook, bool]:
            with self.db.atomic():
                row = self._one("select * from runbooks where source = ?", [source])
                if row:
                    return _runbook(row), False
                self.db.table("runbooks").insert(
                    {
                        "incident": incident,
                        "scenario": scenario,
                        "created_by": created_by,
                        "created_at": to_iso(now),
                        "dry_run": int(dry_run),
                        "source": source,
                    }
                )
                row = self._one("select * from runbooks where source = ?", [source])
                return _runbook(row or {}), True

        return await self._call(create)

    async def get_runbook(self, runbook: int) -> Runbook | None:
        row = await self._call(
            self._one, "select * from runbooks where id = ?", [runbook]
        )
        return _runbook(row) if row else None

    async def runbooks_for(self, incident: int) -> list[Runbook]:
        sql = "select * from runbooks where incident = ? order by id"
        rows = await self._call(lambda: list(self.db.query(sql, [incident])))
        return [_runbook(r) for r in rows]

    # -- inputs -----------------------------------------------------------------------------
    async def set_inputs(
        self, runbook: int, values: dict[str, Any], *, user: str, now: datetime
    ) -> None:
        rows = [
            {
                "runbook": runbook,
                "name": k,
                "value": json.dumps(v),
                "set_by": user,
                "set_at": to_iso(now),
            }
            for k, v in values.items()
        ]
        await self._call(
            lambda: self.db.table("runbook_inputs").upsert_all(
                rows, pk=("runbook", "name")
            )
        )

    async def inputs(self, runbook: int) -> dict[str, Any]:
        sql = "select name, value from runbook_inputs where runbook = ?"
        rows = await self._call(lambda: list(self.db.query(sql, [runbook])))
        return {r["name"]: json.loads(r["value"]) for r in rows}

    # -- cards ------------------------------------------------------------------------------
    async def set_card_ts(self, card: CardRef, ts: str) -> None:
        row = {"runbook": card.runbook, "step": card.step, "ts": ts}
        await self._call(
            lambda: self.db.table("runbook_cards").upsert(row, pk=("runbook", "step"))
        )

    async def card_timestamps(self, incident: int) -> dict[str, str]:
        """Each card's `CardRef.key` -> its message ts, for the outbox's placeholders."""
        sql = (
            "select c.runbook, c.step, c.ts from runbook_cards c join runbooks r on r.id = c.runbook"
            " where r.incident = ?"
        )
        rows = await self._call(lambda: list(self.db.query(sql, [incident])))
        return {CardRef(r["runbook"], r["step"]).key: r["ts"] for r in rows}

    # -- the ledger -------------------------------------------------------------------------
    async def insert_step_run(
        self,
        *,
        runbook: int,
        incident: int,
        step: str,
        attempt: int,
        state: StepState,
        now: datetime,
        source: str,
        while_on: str | None = None,
        **fields: Any,
    ) -> StepRun | None:
        """Insert attempt `attempt` of a step; None when that attempt already exists.

        With `while_on`, also None when that switch is off: read in the same statement, so a switch
        turned off at any moment is never missed.
        """
        row = {
            "runbook": runbook,
            "incident": incident,
            "step": step,
            "attempt": attempt,
            "state": state.value,
            "created_at": to_iso(now),
            "updated_at": to_iso(now),
            "source": source,
            **_encode(fields),
        }

        def insert() -> StepRun | None:
            columns = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            cursor = self.db.execute(
                f"insert into step_runs ({columns}) select {marks} where {_SWITCH_ON}"
                " on conflict(incident, runbook, step, attempt) do nothing",
                [*row.values(), while_on],
            )
            if cursor.rowcount != 1:
                return None
            return _run(
                self._one("select * from step_runs where id = ?", [cursor.lastrowid])
                or {}
            )

        return await self._call(insert)

    async def transition(
        self,
        run_id: int,
        *,
        from_states: frozenset[StepState] | set[StepState],
        to: StepState,
        now: datetime,
        while_on: str | None = None,
        **fields: Any,
    ) -> StepRun | None:
        """Move a run to `to` only if it is in one of `from_states`; None when another caller won.

        With `while_on`, also None when that switch is off (read in the same statement).
        """
        changes = {"state": to.value, "updated_at": to_iso(now), **_encode(fields)}

        def update() -> StepRun | None:
            sets = ", ".join(f"{k} = ?" for k in changes)
            states = [s.value for s in from_states]
            marks = ", ".join("?" for _ in states)
            cursor = self.db.execute(
                f"update step_runs set {sets} where id = ? and state in ({marks})"
                f" and {_SWITCH_ON}",
                [*changes.values(), run_id, *states, while_on],
            )
            if cursor.rowcount != 1:
                return None
            return _run(
                self._one("select * from step_runs where id = ?", [run_id]) or {}
            )

        return await self._call(update)

    async def step_run(self, run_id: int) -> StepRun | None:
        row = await self._call(
            self._one, "select * from step_runs where id = ?", [run_id]
        )
        return _run(row) if row else None

    async def step_runs(self, runbook: int) -> list[StepRun]:
        sql = "select * from step_runs where runbook = ? order by step, attempt"
        rows = await self._call(lambda: list(self.db.query(sql, [runbook])))
        return [_run(r) for r in rows]

    async def runs_in_state(self, state: StepState) -> list[StepRun]:
        sql = "select * from step_runs where state = ? order by id"
        rows = await self._call(lambda: list(self.db.query(sql, [state.value])))
        return [_run(r) for r in rows]

    # -- approvals --------------------------------------------------------------------------
    async def add_approval(
        self,
        *,
        run_id: int,
        user: str,
        decision: str,
        plan_hash: str,
        now: datetime,
        source: str,
    ) -> bool:
        """Record a decision; False when this person already decided on this run."""

        def add() -> bool:
            cursor = self.db.execute(
                "insert into approvals (step_run, user, decision, plan_hash, created_at, source)"
                " values (?, ?, ?, ?, ?, ?) on conflict(step_run, user) do nothing",
                [run_id, user, decision, plan_hash, to_iso(now), source],
            )
            return cursor.rowcount == 1

        return await self._call(add)

    async def approvals(self, run_id: int) -> list[Approval]:
        sql = "select * from approvals where step_run = ? order by id"
        rows = await self._call(lambda: list(self.db.query(sql, [run_id])))
        return [
            Approval.model_validate({**r, "created_at": from_iso(r["created_at"])})
            for r in rows
        ]

    # -- switches ---------------------------------------------------------------------------
    async def set_switch(
        self, name: str, value: str, *, user: str, now: datetime
    ) -> None:
        row = {"name": name, "value": value, "set_by": user, "set_at": to_iso(now)}
        await self._call(lambda: self.db.table("switches").upsert(row, pk="name"))

    async def switch(self, name: str) -> str | None:
        row = await self._call(
            self._one, "select value from switches where name = ?", [name]
        )
        return str(row["value"]) if row else None


# True unless the switch named by the parameter is off (a NULL name: no switch to honour).
_SWITCH_ON = "not exists (select 1 from switches where name = ? and value = 'off')"


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key in ("result", "error"):
            value = json.dumps(redact(value), sort_keys=True, default=str)
        elif key == "plan":
            value = (
                value.model_dump_json()
                if isinstance(value, Plan)
                else json.dumps(value)
            )
        elif key in _JSON:
            value = json.dumps(redact(value), default=str)
        elif isinstance(value, datetime):
            value = to_iso(value)
        elif isinstance(value, bool):
            value = int(value)
        elif isinstance(value, str):
            value = redact_text(value)
        out[key] = value
    return out


def _runbook(row: dict[str, Any]) -> Runbook:
    data = {k: v for k, v in row.items() if v is not None}
    data["created_at"] = from_iso(row["created_at"])
    data["dry_run"] = bool(row.get("dry_run"))
    return Runbook.model_validate(data)


def _run(row: dict[str, Any]) -> StepRun:
    data = {k: v for k, v in row.items() if v is not None}
    for key in _JSON:
        if row.get(key):
            data[key] = json.loads(row[key])
    for key in ("created_at", "updated_at", "expires_at"):
        if row.get(key):
            data[key] = from_iso(row[key])
    data["dry_run"] = bool(row.get("dry_run"))
    return StepRun.model_validate(data)
