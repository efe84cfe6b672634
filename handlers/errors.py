"""Error reporting: known errors become a private message; unknown ones a correlation id.

Used by the listener wrapper (handlers/middleware.py) and by the one Bolt error handler. Never puts
a traceback or a secret in Slack. Listener code has no `except Exception` of its own.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import BotError
from bot.redaction import redact_secrets, redact_text

log = logging.getLogger("warroom.errors")


# A form can only be opened within 3 s of the click or command that asked for it: a request
# replayed after a restart, or answered late, finds its trigger expired.
_EXPIRED_TRIGGER = frozenset({"expired_trigger_id", "invalid_trigger_id"})
# A private message in a channel reaches only its members: anyone else is told by direct message.
_NOT_THERE = frozenset({"user_not_in_channel", "channel_not_found", "not_in_channel"})


def user_message(error: Exception) -> str:
    if isinstance(error, BotError):
        # Posted directly, not through the outbox: a message may quote what was typed.
        return f":warning: {redact_secrets(error.message)}"
    if (
        isinstance(error, SlackApiError)
        and error.response.get("error") in _EXPIRED_TRIGGER
    ):
        return (
            ":warning: warroom could not open the form in time (it may have restarted):"
            " run the command or press the button again."
        )
    reference = uuid.uuid4().hex[:8]
    log.error(
        "unhandled error %s: %s", reference, redact_text(repr(error)), exc_info=error
    )
    return f":x: Something went wrong (reference `{reference}`). The team can find it in the logs."


async def report_error(
    error: Exception, body: dict[str, Any], client: AsyncWebClient
) -> None:
    """Tell the user privately what went wrong (known errors) or give a reference (unknown ones):
    in the channel they acted in, or by direct message where Slack cannot show them one there."""
    text = user_message(error)
    user_id = body.get("user_id") or (body.get("user") or {}).get("id")
    channel = body.get("channel_id") or (body.get("channel") or {}).get("id")
    if not user_id:
        return
    try:
        if channel:
            try:
                await client.chat_postEphemeral(
                    channel=channel, user=user_id, text=text
                )
                return
            except SlackApiError as exc:
                if exc.response.get("error") not in _NOT_THERE:
                    raise
        await client.chat_postMessage(channel=user_id, text=text)
    # Slack itself is failing: the log line is all that is left
    except SlackApiError as exc:
        log.warning(
            "could not tell %s about an error: %s", user_id, exc.response.get("error")
        )
    except (SlackRequestError, aiohttp.ClientError, TimeoutError, OSError) as exc:
        log.warning("could not tell %s about an error: %s", user_id, type(exc).__name__)


async def handle_error(
    error: Exception, body: dict[str, Any], client: AsyncWebClient
) -> None:
    """Bolt's error handler, for errors outside listeners (middleware, parsing)."""
    await report_error(error, body, client)


def register(app: AsyncApp) -> None:
    app.error(handle_error)
