"""Who may act: responders and approvers from settings (user ids and user-group ids).

`SlackAuthoriser` is built once per bot (`Services.authoriser`). User-group membership is read from
Slack (`usergroups.users.list`) and cached for a minute by that instance. Called after the ack,
never before it.
"""

from __future__ import annotations

import time

from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings

CACHE_SECONDS = 60.0


class SlackAuthoriser:
    """Responders and approvers from settings. No responders listed: everyone responds. No approvers
    listed: nobody approves (AWS changes are refused until `WARROOM_APPROVERS` is set)."""

    def __init__(self, *, client: AsyncWebClient, settings: Settings) -> None:
        self.client, self.settings = client, settings
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}

    async def is_responder(self, user_id: str) -> bool:
        return await self.is_member(self.settings.responders, user_id)

    async def is_approver(self, user_id: str) -> bool:
        if not self.settings.approvers:
            return False
        return await self.is_member(self.settings.approvers, user_id)

    async def is_member(self, allowed: list[str], user_id: str) -> bool:
        """True when `user_id` is listed or belongs to a listed user group; an empty list allows all."""
        if not allowed or user_id in allowed:
            return True
        for group in (a for a in allowed if a.startswith("S")):
            if user_id in await self._members(group):
                return True
        return False

    async def _members(self, group: str) -> frozenset[str]:
        cached = self._groups.get(group)
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        response = await self.client.usergroups_users_list(usergroup=group)
        members = frozenset(response.get("users") or [])
        self._groups[group] = (time.monotonic(), members)
        return members
