"""The Slack side of `CommsPort`: paging, reminders, status updates and scheduled checks as outbox
messages, and the two Slack reads they need (a user's email, users by email).

Posts go through the outbox (ordered, retried, deduplicated by key), never straight to Slack; only
the lookups call the Web API directly, and a failed lookup means "no match", never an exception.
The services' text is plain (it carries names from PagerDuty, AWS answers and settings): it is
escaped here, so `<!channel>` or `<https://evil|click>` in it reach Slack as text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.gateways.pagerduty.pager import OnCall
from bot.gateways.slack.outbox import CHANNEL, Outbox, lane
from bot.models.incidents import Incident, OutboxMessage, Status
from bot.services.ports import Link
from handlers.blocks import paging as pb
from handlers.blocks.incidents import announced, cut, escape
from handlers.outbound.announcer import direct_messages, invitations

log = logging.getLogger(__name__)


class SlackCommsPort:
    """Implements bot.services.ports.CommsPort with outbox messages."""

    def __init__(
        self, *, outbox: Outbox, client: AsyncWebClient, settings: Settings
    ) -> None:
        self.outbox, self.client, self.settings = outbox, client, settings

    def _post(
        self, incident: Incident, args: dict[str, Any], key: str
    ) -> OutboxMessage:
        n = incident.number
        return OutboxMessage(
            method="chat.postMessage",
            args={"channel": CHANNEL, **args},
            channel_key=lane(n),
            dedup_key=f"inc-{n}:{key}",
            incident=n,
        )

    def _announcement(
        self, text: str, key: str, incident: Incident | None
    ) -> OutboxMessage:
        """A post in the announcement channel; of a private incident, only that it exists."""
        channel = self.settings.announcement_channel
        if incident is not None:
            text = announced(incident, text)
        return OutboxMessage(
            method="chat.postMessage",
            args={"channel": channel, "text": text},
            channel_key=channel,
            dedup_key=f"comms:{key}",
            incident=incident.number if incident else None,
        )

    async def say(
        self, incident: Incident, text: str, *, key: str, link: Link | None = None
    ) -> None:
        shown = escape(cut(text, 2900))
        if link is not None:
            shown += f" <{escape(link.url)}|{escape(link.label)}>"
        await self.outbox.enqueue(self._post(incident, {"text": shown}, key))

    async def alarm(self, incident: Incident, text: str, *, key: str) -> None:
        text = escape(text)
        args = {"text": cut(text, 3000), "blocks": pb.alarm_blocks(text)}
        await self.outbox.enqueue(self._post(incident, args, key))

    async def announce(self, text: str, *, key: str) -> None:
        await self.outbox.enqueue(
            self._announcement(cut(escape(text), 3000), key, None)
        )

    async def show_oncall(
        self,
        incident: Incident,
        oncall: Sequence[OnCall],
        slack_ids: dict[str, str],
        *,
        key: str,
    ) -> None:
        # Block Kit: escaped already
        text = pb.oncall_text(incident.key, oncall, slack_ids, zone=self.settings.zone)
        await self.outbox.enqueue(self._post(incident, {"text": cut(text, 3000)}, key))

    async def invite(self, incident: Incident, users: list[str], *, key: str) -> None:
        await self.outbox.enqueue(*invitations(incident.number, users))

    async def remind(
        self, incident: Incident, *, key: str, minutes: int, overdue: bool
    ) -> None:
        args = {
            "text": pb.reminder_text(incident, minutes=minutes, overdue=overdue),
            "blocks": pb.reminder_blocks(incident, minutes=minutes, overdue=overdue),
        }
        await self.outbox.enqueue(self._post(incident, args, key))

    async def archive(self, incident: Incident, text: str, *, key: str) -> None:
        n = incident.number
        await self.outbox.enqueue(
            self._post(incident, {"text": escape(text)}, f"{key}:said"),
            OutboxMessage(
                method="conversations.archive",
                args={"channel": CHANNEL},
                channel_key=lane(n),
                dedup_key=f"inc-{n}:{key}:archive",
                incident=n,
            ),
        )

    async def status_update(
        self,
        incident: Incident,
        *,
        status: Status,
        message: str,
        next_update: datetime,
        head_hash: str,
        actor: str,
        key: str,
        subscribers: Sequence[str] = (),
    ) -> None:
        text = pb.status_update_text(
            incident,
            self.settings,
            status=status,
            message=message,
            next_update=next_update,
        )
        await self.outbox.enqueue(
            self._announcement(text, f"{key}:update", incident),
            self._post(incident, {"text": text}, f"{key}:update"),
            self._post(
                incident,
                {"text": pb.head_hash_text(incident, head_hash)},
                f"{key}:hash",
            ),
            *direct_messages(incident, subscribers, text, f"{key}:update"),
        )

    async def email_of(self, user_id: str) -> str | None:
        try:
            response = await self.client.users_info(user=user_id)
        except SlackApiError as exc:
            log.warning(
                "users.info failed for %s: %s", user_id, exc.response.get("error")
            )
            return None
        profile = (response.get("user") or {}).get("profile") or {}
        return str(profile["email"]) if profile.get("email") else None

    async def users_by_email(self, emails: Sequence[str]) -> dict[str, str]:
        """Slack user ids by email, looked up together (users.lookupByEmail is Tier 3)."""

        async def lookup(email: str) -> tuple[str, str | None]:
            try:
                response = await self.client.users_lookupByEmail(email=email)
            except SlackApiError as exc:
                if exc.response.get("error") != "users_not_found":
                    log.warning(
                        "users.lookupByEmail failed: %s", exc.response.get("error")
                    )
                return email, None
            user_id = (response.get("user") or {}).get("id")
            return email, str(user_id) if user_id else None

        found = await asyncio.gather(*(lookup(e) for e in emails))
        return {email: user for email, user in found if user}
