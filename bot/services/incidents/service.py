"""Incident lifecycle: declare, status, severity, roles, notes, resolve, and capture of channel activity.

Owns the rules (valid transitions, key times, who is commander) and writes every change to the
hash-chained timeline before announcing it. It talks to people only through the `Announcer` port and
hands follow-up work to `Follower`s (both in `bot/services/ports.py`); it knows nothing of Slack payloads
or Block Kit. Channel names come from `channel_names.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.config import Settings
from bot.errors import ConflictError, NotFound, UsageError
from bot.models.incidents import Clock, Incident, NewEntry, Status, TimelineEntry
from bot.services.incidents.channel_names import channel_name
from bot.services.ports import Announcer, Change, ChannelHistory, Follower
from bot.storage import Storage


class IncidentService:
    """Commands on incidents; every change is journaled on the timeline, then announced."""

    def __init__(
        self,
        *,
        storage: Storage,
        settings: Settings,
        clock: Clock,
        announcer: Announcer,
    ) -> None:
        self.storage, self.settings, self.clock, self.announcer = (
            storage,
            settings,
            clock,
            announcer,
        )
        self.followers: list[Follower] = []
        self._channels: dict[str, int | None] = {}

    async def declare(
        self,
        *,
        source: str,
        title: str,
        severity: str,
        declared_by: str,
        scenario: str | None = None,
        components: list[str] | None = None,
        impact_started_at: datetime | None = None,
        description: str = "",
        private: bool = False,
        drill: bool = False,
    ) -> Incident:
        """Create INC-n (once per `source`), journal it, and announce it."""
        level = self.settings.severity(severity)
        if level is None:
            raise UsageError(f"Unknown severity {severity!r}.", field="severity")
        now = self.clock()
        if impact_started_at and impact_started_at > now:
            raise UsageError(
                "Impact cannot start in the future.", field="impact_started_at"
            )
        draft = Incident(
            number=0,
            title=title.strip(),
            severity=level.name,
            scenario=scenario,
            components=components or [],
            description=description,
            commander=declared_by,
            roles={"commander": declared_by},
            channel_name="",
            declared_by=declared_by,
            declared_at=now,
            impact_started_at=impact_started_at,
            private=private,
            drill=drill,
        )
        incident = await self.storage.create_incident(draft, source=source)
        if not incident.channel_name:
            name = channel_name(incident.number, incident.title, drill=drill)
            incident = await self.storage.update_incident(
                incident.number,
                channel_name=name,
                # A private incident's call link does not carry its title.
                bridge_url=self.settings.bridge_for(
                    incident.key,
                    f"inc-{incident.number}" if incident.private else name,
                ),
            )
        await self.storage.append(
            incident.number,
            [
                NewEntry(
                    kind="declared",
                    actor=declared_by,
                    source=f"{source}:declared",
                    key_event=True,
                    text=f"Declared {incident.key} ({incident.severity}): {incident.title}",
                    data={
                        "severity": incident.severity,
                        "scenario": scenario,
                        "components": incident.components,
                        "description": description,
                        "impact_started_at": str(impact_started_at or ""),
                    },
                ),
                NewEntry(
                    kind="role",
                    actor=declared_by,
                    source=f"{source}:commander",
                    text=f"commander: {declared_by}",
                    data={"role": "commander", "user": declared_by},
                ),
            ],
            now=now,
        )
        await self.announcer.declared(incident)
        for follower in self.followers:
            await follower.after_declare(incident, source=source)
        return incident

    async def get(self, number: int) -> Incident:
        incident = await self.storage.get_incident(number)
        if incident is None:
            raise NotFound(f"INC-{number} does not exist.")
        return incident

    async def by_channel(self, channel_id: str) -> Incident | None:
        return await self.storage.incident_by_channel(channel_id)

    async def channel_created(self, *, number: int, channel_id: str, name: str) -> None:
        await self.storage.update_incident(
            number, channel_id=channel_id, channel_name=name
        )
        self._channels[channel_id] = number

    async def _number_for_channel(self, channel_id: str) -> int | None:
        """Which incident a channel belongs to; cached, since every message event asks."""
        if channel_id not in self._channels:
            if len(self._channels) > 10_000:
                self._channels.clear()
            incident = await self.storage.incident_by_channel(channel_id)
            self._channels[channel_id] = incident.number if incident else None
        return self._channels[channel_id]

    async def card_posted(self, *, number: int, ts: str) -> None:
        await self.storage.update_incident(number, card_ts=ts)

    async def set_status(
        self, *, number: int, status: Status, actor: str, source: str
    ) -> Incident:
        """Move to investigating / identified / monitoring; resolving goes through `resolve`."""
        incident = await self._open(number)
        if status is Status.RESOLVED:
            raise UsageError(
                "Use `/incident resolve` to resolve (it asks for a summary)."
            )
        if status is incident.status:
            raise ConflictError(f"{incident.key} is already {status.value}.")
        now = self.clock()
        changes: dict[str, Any] = {"status": status}
        if status is Status.MONITORING and incident.mitigated_at is None:
            changes["mitigated_at"] = now
        updated = await self.storage.update_incident(number, **changes)
        await self._record(
            updated,
            "status",
            actor,
            source,
            f"status: {incident.status.value} -> {status.value}",
            {"from": incident.status.value, "to": status.value},
            key_event=True,
        )
        await self.announcer.changed(
            updated,
            Change("status", actor, {"from": incident.status, "to": status}, source),
        )
        return updated

    async def set_severity(
        self, *, number: int, severity: str, actor: str, source: str
    ) -> Incident:
        incident = await self._open(number)
        level = self.settings.severity(severity)
        if level is None:
            names = ", ".join(s.name for s in self.settings.severities)
            raise UsageError(f"Unknown severity {severity!r}; use one of {names}.")
        if level.name == incident.severity:
            raise ConflictError(f"{incident.key} is already {level.name}.")
        updated = await self.storage.update_incident(number, severity=level.name)
        await self._record(
            updated,
            "severity",
            actor,
            source,
            f"severity: {incident.severity} -> {level.name}",
            {"from": incident.severity, "to": level.name},
            key_event=True,
        )
        await self.announcer.changed(
            updated,
            Change(
                "severity", actor, {"from": incident.severity, "to": level.name}, source
            ),
        )
        for follower in self.followers:
            await follower.after_severity(updated, actor=actor, source=source)
        return updated

    async def assign(
        self, *, number: int, role: str, user: str, actor: str, source: str
    ) -> Incident:
        incident = await self._open(number)
        role = role.lower()
        if role not in self.settings.roles:
            raise UsageError(
                f"Unknown role {role!r}; roles are {', '.join(self.settings.roles)}."
            )
        roles = {**incident.roles, role: user}
        changes: dict[str, Any] = {"roles": roles}
        if role == "commander":
            changes["commander"] = user
        updated = await self.storage.update_incident(number, **changes)
        await self._record(
            updated,
            "role",
            actor,
            source,
            f"{role}: {user}",
            {"role": role, "user": user},
        )
        await self.announcer.invite(updated, [user])
        detail = {"role": role, "user": user}
        if role == "commander":
            detail["from"] = incident.commander or ""
        await self.announcer.changed(updated, Change("role", actor, detail, source))
        return updated

    async def note(
        self, *, number: int, text: str, actor: str, source: str
    ) -> TimelineEntry | None:
        incident = await self.get(number)
        if not text.strip():
            raise UsageError("A note needs some text: `/incident note <text>`.")
        entries = await self._record(incident, "note", actor, source, text.strip(), {})
        await self.announcer.changed(
            incident, Change("note", actor, {"text": text.strip()}, source)
        )
        return entries[0] if entries else None

    async def resolve(
        self,
        *,
        number: int,
        summary: str,
        root_cause: str,
        actor: str,
        source: str,
        trigger: str = "",
        impact: str = "",
    ) -> Incident:
        """Resolve; the root cause, trigger and impact given are the post-mortem's first details."""
        incident = await self._open(number)
        now = self.clock()
        changes: dict[str, Any] = {
            "status": Status.RESOLVED,
            "resolved_at": now,
            "summary": summary.strip(),
        }
        if incident.mitigated_at is None:
            changes["mitigated_at"] = now
        updated = await self.storage.update_incident(number, **changes)
        entries = await self._record(
            updated,
            "resolved",
            actor,
            source,
            f"Resolved: {summary.strip()}",
            {
                "summary": summary.strip(),
                "root_cause": root_cause.strip(),
                "trigger": trigger.strip(),
                "impact": impact.strip(),
                "from": incident.status.value,
            },
            key_event=True,
        )
        head = (
            entries[-1].hash
            if entries
            else (await self.storage.timeline(number, last=1))[-1].hash
        )
        await self.announcer.resolved(
            updated,
            head_hash=head,
            root_cause=root_cause.strip(),
            subscribers=await self.storage.subscribers(number),
        )
        for follower in self.followers:
            await follower.after_resolve(updated, source=source)
        return updated

    async def backfill(self, history: ChannelHistory) -> dict[int, int]:
        """Put on the timeline, marked `recovered`, every message an open incident's channel has
        that the timeline lacks (said while the bot was down, or after the backup it was restored
        from): those posted after the last message it has. Incident number -> messages added."""
        added: dict[int, int] = {}
        for incident in await self.storage.incidents(open_only=True):
            if not incident.channel_id:
                continue
            entries = await self.storage.timeline(incident.number)
            known = {e.slack_ts for e in entries if e.kind == "message" and e.slack_ts}
            after = max(
                (float(ts) for ts in known), default=incident.declared_at.timestamp()
            )
            found = await history.entries_since(incident.channel_id, f"{after:.6f}")
            missing = [
                e.model_copy(update={"data": {**e.data, "recovered": True}})
                for e in found
                if e.slack_ts not in known
            ]
            if missing:
                stored = await self.storage.append(
                    incident.number, missing, now=self.clock()
                )
                added[incident.number] = len(stored)
        return added

    async def open_incidents(self) -> list[Incident]:
        return await self.storage.incidents(open_only=True)

    async def timeline(self, *, number: int, last: int) -> list[TimelineEntry]:
        await self.get(number)
        return await self.storage.timeline(number, last=last)

    async def capture(
        self, *, channel_id: str, entry: NewEntry
    ) -> TimelineEntry | None:
        """Record channel activity (messages, edits, deletions, files, pins) if it is an incident channel."""
        number = await self._number_for_channel(channel_id)
        if number is None:
            return None
        if entry.kind in ("pin", "pushpin") and entry.slack_ts:
            target = await self.storage.find_entry(
                number, slack_ts=entry.slack_ts, kind="message"
            )
            if target:
                entry = entry.model_copy(
                    update={
                        "corrects": None,
                        "data": {**entry.data, "marks": target.seq},
                    }
                )
        if entry.kind in ("edit", "delete") and entry.slack_ts:
            target = await self.storage.find_entry(
                number, slack_ts=entry.slack_ts, kind="message"
            )
            if target:
                entry = entry.model_copy(update={"corrects": target.seq})
        added = await self.storage.append(number, [entry], now=self.clock())
        return added[0] if added else None

    async def capture_journaled(
        self, *, key: str, kind: str, body: str, channel_id: str, entry: NewEntry
    ) -> bool:
        """Journal a request and record its entry (if the channel is an incident's) in one
        transaction; False when the request was journaled before."""
        number = await self._number_for_channel(channel_id)
        added = await self.storage.journal_and_append(
            key=key,
            kind=kind,
            body=body,
            now=self.clock(),
            incident=number,
            entries=[entry],
        )
        return added is not None

    async def _open(self, number: int) -> Incident:
        incident = await self.get(number)
        if not incident.is_open:
            raise ConflictError(f"{incident.key} is resolved.")
        return incident

    async def _record(
        self,
        incident: Incident,
        kind: str,
        actor: str,
        source: str,
        text: str,
        data: dict[str, Any],
        *,
        key_event: bool = False,
    ) -> list[TimelineEntry]:
        entry = NewEntry(
            kind=kind,
            actor=actor,
            text=text,
            data=data,
            source=source,
            key_event=key_event,
        )
        return await self.storage.append(incident.number, [entry], now=self.clock())
