"""The Slack side of the `Announcer` port: turns incident changes into queued Web API calls.

Owns what is posted where (the plan's notification templates, the pinned card, channel creation
and invites) and the outbox hooks that feed Slack's answers back (channel id, card ts). It never
calls Slack directly: everything goes through the outbox, so order, retries and restarts are safe.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from bot.config import Settings
from bot.errors import UsageError
from bot.gateways.slack.outbox import (
    ANNOUNCEMENT_KEY,
    ANNOUNCEMENT_TS,
    CHANNEL,
    Outbox,
    card_lane,
    lane,
    members_lane,
)
from bot.models.incidents import Incident, OutboxMessage, OutboxRow
from bot.plan import INITIAL_NOTIFICATION, RESOLUTION_NOTIFICATION, SERVICE_NAME
from bot.services.incidents.channel_names import channel_name
from bot.services.incidents.service import IncidentService
from bot.services.ports import Change
from handlers.blocks import incidents as blocks

CARD_TS = "{incident.card_ts}"


def duration_text(delta: timedelta) -> str:
    """The plan's `X hours Y minutes`; under a minute, the seconds (a drill, a quick fix)."""
    if delta < timedelta(minutes=1):
        return f"less than a minute ({max(0, int(delta.total_seconds()))} seconds)"
    minutes = max(0, int(delta.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} hours {minutes} minutes" if hours else f"{minutes} minutes"


def invitations(incident: int, users: Sequence[str]) -> list[OutboxMessage]:
    """Invite `users` to the incident channel in one call (conversations.invite is Tier 3: fifty
    a minute, which twenty incidents declared together would pass one person at a time), beside
    the channel's posts."""
    chosen = ",".join(sorted(set(users)))
    if not chosen:
        return []
    return [
        OutboxMessage(
            method="conversations.invite",
            args={"channel": CHANNEL, "users": chosen},
            channel_key=members_lane(incident),
            dedup_key=f"inc-{incident}:invite:{chosen}",
            incident=incident,
        )
    ]


def direct_messages(
    incident: Incident,
    users: Sequence[str],
    text: str,
    key: str,
    blocks: list[dict[str, Any]] | None = None,
) -> list[OutboxMessage]:
    """`text` (and `blocks`, if any) to each of `users` by direct message (`chat.postMessage` to
    a user id), once per `key` and user; each user's messages keep their order."""
    extra = {"blocks": blocks} if blocks else {}
    return [
        OutboxMessage(
            method="chat.postMessage",
            args={"channel": user, "text": text, **extra},
            channel_key=f"dm:{user}",
            dedup_key=f"inc-{incident.number}:{key}:dm:{user}",
            incident=incident.number,
        )
        for user in users
    ]


class SlackAnnouncer:
    """Implements bot.services.ports.Announcer with outbox messages."""

    def __init__(self, *, outbox: Outbox, settings: Settings) -> None:
        self.outbox, self.settings = outbox, settings
        self.incidents: IncidentService | None = None

    def bind(self, incidents: IncidentService) -> None:
        """Connect to the service (they refer to each other) and register the outbox hooks."""
        self.incidents = incidents
        self.outbox.on_sent("channel-create", self._channel_created)
        self.outbox.on_error("channel-create", self._channel_create_failed)
        self.outbox.on_sent("card", self._card_posted)

    # -- the port -------------------------------------------------------------------------
    async def declared(self, incident: Incident) -> None:
        n, text = incident.number, self.initial_notification(incident)
        mine = self._in_channel
        await self.outbox.enqueue(
            OutboxMessage(
                method="conversations.create",
                args={"name": incident.channel_name, "is_private": incident.private},
                channel_key=lane(n),
                dedup_key=f"inc-{n}:create",
                incident=n,
                purpose="channel-create",
            ),
            *invitations(n, [incident.declared_by]),
            self._announce(
                incident,
                text,
                ANNOUNCEMENT_KEY,
                layout=blocks.announcement_blocks(incident, text),
            ),
            # The card and its pin first (Slack takes one post a second in a channel), then the rest.
            mine(
                incident,
                "chat.postMessage",
                self._card_args(incident),
                "card",
                purpose="card",
            ),
            mine(incident, "pins.add", {"timestamp": CARD_TS}, "card-pin"),
            mine(
                incident,
                "conversations.setTopic",
                {
                    "topic": blocks.cut(
                        f"{incident.key} {incident.severity}: {blocks.escape(incident.title)}",
                        250,
                    )
                },
                "topic",
            ),
            mine(incident, "chat.postMessage", {"text": text}, "initial"),
        )

    async def changed(self, incident: Incident, change: Change) -> None:
        key = change.source or uuid.uuid4().hex
        line = self._change_line(change)
        messages = [
            self._in_channel(
                incident, "chat.postMessage", {"text": line}, f"{key}:line"
            ),
            self._card_update(incident, key),
        ]
        if change.kind == "role" and change.detail["role"] == "commander":
            # Who runs an incident is news for the announcement channel, private ones included.
            messages.append(self._in_thread(incident, line, f"{key}:commander"))
        await self.outbox.enqueue(*messages)

    async def resolved(
        self,
        incident: Incident,
        *,
        head_hash: str,
        root_cause: str,
        subscribers: Sequence[str] = (),
    ) -> None:
        text = self.resolution_notification(incident, root_cause=root_cause)
        chain = f"Timeline head hash for {incident.key}: `{head_hash}`"
        await self.outbox.enqueue(
            self._in_channel(
                incident, "chat.postMessage", {"text": text}, "resolution"
            ),
            self._in_channel(
                incident,
                "chat.postMessage",
                {"text": chain},
                "resolution-chain",
                purpose="resolution-chain",  # starts the post-mortem draft (handlers/outbound/postmortem_publisher.py)
            ),
            self._announce(incident, text, "announce-resolution"),
            self._card_update(incident, "resolved"),
            *direct_messages(incident, subscribers, text, "resolution"),
        )

    async def notify(self, incident: Incident, template: str) -> str:
        """A runbook notify step: the plan's notification under the keys the bot's own post of it
        uses, so what was posted at declaration or resolution is never posted again."""
        if template == "initial":
            text = self.initial_notification(incident)
            await self.outbox.enqueue(
                self._announce(incident, text, ANNOUNCEMENT_KEY),
                self._in_channel(
                    incident, "chat.postMessage", {"text": text}, "initial"
                ),
            )
            return "Initial Notification posted in the announcement channel and the incident channel"
        if template == "resolution" and incident.resolved_at is not None:
            return "Resolution Notification posted when the incident was resolved"
        if template == "resolution":
            raise UsageError(
                "The Resolution Notification is posted when the incident is resolved: `/incident resolve`."
            )
        raise UsageError(
            "Status updates are posted with `/incident update`: its form asks what the template needs."
        )

    async def invite(self, incident: Incident, users: list[str]) -> None:
        await self.outbox.enqueue(*invitations(incident.number, users))

    # -- texts ----------------------------------------------------------------------------
    def initial_notification(self, incident: Incident) -> str:
        level = self.settings.severity(incident.severity)
        minutes = level.update_minutes if level else 15
        start = incident.impact_started_at or incident.declared_at
        drill = "[DRILL] " if incident.drill else ""
        return (
            drill
            + INITIAL_NOTIFICATION.format(
                service=SERVICE_NAME,
                status="Investigating",
                impact=level.impact if level else "High",
                start_time=blocks.stamp(start, self.settings.zone),
                description=blocks.escape(incident.description or incident.title),
                issue=blocks.escape(incident.title),
                update_minutes=minutes,
                next_update=blocks.stamp(
                    incident.declared_at + timedelta(minutes=minutes),
                    self.settings.zone,
                ),
                commander=blocks.user(incident.commander),
            )
            + f"\nChannel: <#{CHANNEL}>".replace(
                CHANNEL, incident.channel_id or incident.channel_name
            )
        )

    def resolution_notification(
        self, incident: Incident, *, root_cause: str = ""
    ) -> str:
        start = incident.impact_started_at or incident.declared_at
        end = incident.resolved_at or incident.declared_at
        drill = "[DRILL] " if incident.drill else ""
        return (
            drill
            + RESOLUTION_NOTIFICATION.format(
                service=SERVICE_NAME,
                duration=duration_text(end - start),
                root_cause=blocks.escape(
                    root_cause or "To be determined in the post-mortem"
                ),
                summary=blocks.escape(incident.summary or "See the post-mortem"),
            )
            + f"\nIncident: {incident.key}"
        )

    def _change_line(self, change: Change) -> str:
        who, d = blocks.user(change.actor), change.detail
        if change.kind == "status":
            return f":large_blue_circle: {who} set status {d['from']} → *{d['to']}*"
        if change.kind == "severity":
            return f":warning: {who} changed severity {d['from']} → *{d['to']}*"
        if change.kind == "role" and d["role"] == "commander":
            new, old = blocks.user(d["user"]), blocks.user(d.get("from"))
            if change.actor == d.get("from"):
                return f":crown: {who} handed command of this incident to {new}"
            return f":crown: {who} made {new} the incident commander (was {old})"
        if change.kind == "role":
            return f":bust_in_silhouette: {who} assigned *{blocks.escape(d['role'])}* to {blocks.user(d['user'])}"
        if change.kind == "note":
            return (
                f":memo: Note from {who}: {blocks.escape(blocks.cut(d['text'], 2900))}"
            )
        return f"{who}: {change.kind}"

    # -- messages -------------------------------------------------------------------------
    def _card_args(self, incident: Incident) -> dict[str, Any]:
        return {
            "text": f"{incident.key}: {blocks.escape(incident.title)}",
            "blocks": blocks.incident_card(incident, self.settings),
        }

    def _card_update(self, incident: Incident, key: str) -> OutboxMessage:
        args = {**self._card_args(incident), "ts": CARD_TS}
        update = self._in_channel(incident, "chat.update", args, f"{key}:card")
        update.channel_key = card_lane(incident.number, "card")  # not behind the posts
        return update

    def _in_channel(
        self,
        incident: Incident,
        method: str,
        args: dict[str, Any],
        key: str,
        *,
        purpose: str = "",
    ) -> OutboxMessage:
        n = incident.number
        return OutboxMessage(
            method=method,
            args={"channel": CHANNEL, **args},
            channel_key=lane(n),
            dedup_key=f"inc-{n}:{key}",
            incident=n,
            purpose=purpose,
        )

    def _announce(
        self,
        incident: Incident,
        text: str,
        key: str,
        *,
        layout: list[dict[str, Any]] | None = None,
    ) -> OutboxMessage:
        """A post in the announcement channel; of a private incident, only that it exists (and
        never `layout`, the blocks that would show more)."""
        channel = self.settings.announcement_channel
        args: dict[str, Any] = {
            "channel": channel,
            "text": blocks.announced(incident, text),
        }
        if layout and not incident.private:
            args["blocks"] = layout
        return OutboxMessage(
            method="chat.postMessage",
            args=args,
            channel_key=channel,
            dedup_key=f"inc-{incident.number}:{key}",
            incident=incident.number,
        )

    def _in_thread(self, incident: Incident, text: str, key: str) -> OutboxMessage:
        """A reply under the incident's announcement in the announcement channel."""
        message = self._announce(incident, f"{incident.key}: {text}", key)
        message.args["thread_ts"] = ANNOUNCEMENT_TS
        return message

    def _service(self) -> IncidentService:
        if self.incidents is None:
            raise RuntimeError("SlackAnnouncer.bind() was not called")
        return self.incidents

    # -- outbox hooks ---------------------------------------------------------------------
    async def _channel_created(self, row: OutboxRow, result: dict[str, Any]) -> None:
        channel = result.get("channel") or {}
        await self._service().channel_created(
            number=_number(row), channel_id=channel["id"], name=channel["name"]
        )

    async def _channel_create_failed(
        self, row: OutboxRow, error: str
    ) -> dict[str, Any] | None:
        """On a name clash, try `inc-<n>-<slug>-2`, `-3`, ...; on a bad name, fall back to `inc-<n>`."""
        incident = await self._service().get(_number(row))
        if error == "name_taken":
            name = channel_name(
                incident.number,
                incident.title,
                drill=incident.drill,
                suffix=row.attempts + 2,
            )
        elif error.startswith("invalid_name"):
            name = f"{'drill' if incident.drill else 'inc'}-{incident.number}"
        else:
            return None
        return {**row.args, "name": name}

    async def _card_posted(self, row: OutboxRow, result: dict[str, Any]) -> None:
        await self._service().card_posted(number=_number(row), ts=str(result["ts"]))


def _number(row: OutboxRow) -> int:
    if row.incident is None:
        raise ValueError(f"outbox row {row.id} ({row.purpose}) names no incident")
    return row.incident
