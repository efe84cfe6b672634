"""Who may act: responders and approvers from settings (user ids and user-group ids).

User-group membership is read from Slack (`usergroups.users.list`) and cached for a minute. Called
after the ack, never before it.
"""

from __future__ import annotations

import time

from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings

_CACHE_SECONDS = 60.0
_groups: dict[str, tuple[float, frozenset[str]]] = {}


async def _members(client: AsyncWebClient, group: str) -> frozenset[str]:
    cached = _groups.get(group)
    if cached and time.monotonic() - cached[0] < _CACHE_SECONDS:
        return cached[1]
    response = await client.usergroups_users_list(usergroup=group)
    members = frozenset(response.get("users") or [])
    _groups[group] = (time.monotonic(), members)
    return members


async def is_member(client: AsyncWebClient, allowed: list[str], user_id: str) -> bool:
    """True when `user_id` is listed or belongs to a listed user group; an empty list allows all."""
    if not allowed or user_id in allowed:
        return True
    for group in (a for a in allowed if a.startswith("S")):
        if user_id in await _members(client, group):
            return True
    return False


async def is_responder(
    client: AsyncWebClient, settings: Settings, user_id: str
) -> bool:
    return await is_member(client, settings.responders, user_id)
