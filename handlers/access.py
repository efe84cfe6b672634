"""Who may use what: the authorisation table of the Slack adapter, and the one place it is checked.

Every listener is registered as `journaled(listener, allow=...)` and every subcommand as
`@subcommand(..., allow=...)`; neither can be registered without a rule, and a test enumerates
the registered listeners and subcommands and fails on one without. The rule is checked after the
ack (a user-group lookup may call Slack) and before the listener or subcommand runs:

    anyone      reads, and what Slack itself reports (messages, pins, App Home opened)
    responder   changes an incident or a runbook (`WARROOM_RESPONDERS`; empty: everyone)

A submitted form is checked first to be one the bot opened for its sender (`handlers.views`).
A private incident is shown (in `/incident list` and App Home) only to the members of its channel.

The runbook service keeps the rules that depend on the step or the state: only an approver who is
not the requester approves or rejects a step, and only approvers turn AWS execution back on.
"""

from __future__ import annotations

from enum import StrEnum

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import PermissionDenied
from bot.models.incidents import Incident
from bot.services.ports import Authoriser


class Allow(StrEnum):
    ANYONE = "anyone"
    RESPONDER = "responder"


async def check(authoriser: Authoriser, allow: Allow, user_id: str, what: str) -> None:
    """Raise PermissionDenied unless `user_id` may do `what` under the rule `allow`."""
    if allow is Allow.ANYONE or await authoriser.is_responder(user_id):
        return
    raise PermissionDenied(f"Only responders may {what}.")


async def visible(
    client: AsyncWebClient, user_id: str, incidents: list[Incident]
) -> list[Incident]:
    """The incidents `user_id` may see: every public one; a private one only from inside its channel."""
    return [i for i in incidents if not i.private or await _member(client, i, user_id)]


async def _member(client: AsyncWebClient, incident: Incident, user_id: str) -> bool:
    """Whether `user_id` is in the incident's channel; when Slack cannot say, no."""
    if not incident.channel_id:
        return False
    cursor = None
    try:
        while True:
            page = await client.conversations_members(
                channel=incident.channel_id, cursor=cursor, limit=1000
            )
            if user_id in (page.get("members") or []):
                return True
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return False
    except SlackApiError:
        return False
