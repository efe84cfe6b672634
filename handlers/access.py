"""Who may use what: the authorisation table of the Slack adapter, and the one place it is checked.

Every listener is registered as `journaled(listener, allow=...)` and every subcommand as
`@subcommand(..., allow=...)`; neither can be registered without a rule, and a test enumerates
the registered listeners and subcommands and fails on one without. The rule is checked after the
ack (a user-group lookup may call Slack) and before the listener or subcommand runs:

    anyone      reads, and what Slack itself reports (messages, pins, App Home opened)
    responder   changes an incident or a runbook (`WARROOM_RESPONDERS`; empty: everyone)

The runbook service keeps the rules that depend on the step or the state: only an approver who is
not the requester approves or rejects a step, and only approvers turn AWS execution back on.
"""

from __future__ import annotations

from enum import StrEnum

from bot.errors import PermissionDenied
from bot.services.ports import Authoriser


class Allow(StrEnum):
    ANYONE = "anyone"
    RESPONDER = "responder"


async def check(authoriser: Authoriser, allow: Allow, user_id: str, what: str) -> None:
    """Raise PermissionDenied unless `user_id` may do `what` under the rule `allow`."""
    if allow is Allow.ANYONE or await authoriser.is_responder(user_id):
        return
    raise PermissionDenied(f"Only responders may {what}.")
