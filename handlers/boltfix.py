"""Fixes to how slack-bolt turns a request body into a request, applied once at start-up.

Bolt parses any form body that contains the substring "payload" as an interaction payload, so
`/incident note payload service down` became an empty request and a 404 (verified on slack-bolt
1.30; see the research notes). This parser looks for a real `payload` field instead. Remove it
when Bolt fixes `slack_bolt.request.internals.parse_body`.

It is also where a body Slack would never send is recognised (issue 12), before anything is
recorded: one that is not JSON where JSON is expected, whose JSON (the body, or an interaction's
`payload` field) is not an object, whose `event` is not an object, or that Bolt cannot read its
context from (a `team`, `user` or `channel` of another shape...). `parse_body` and `bolt_request`
raise `UsageError` with a short reason; `bot.web` answers it 400. What only Bolt's listener
matching trips over is settled by `handlers.middleware.SettlingApp`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import slack_bolt.request.async_request as async_request
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.errors import UsageError

NOT_SLACK_SHAPED = "malformed request: the body is not shaped as Slack sends it"


def parse_body(body: str, content_type: str | None) -> dict[str, Any]:
    """Parse a request body as Slack encodes it; raise UsageError when it is not encoded so."""
    if not body:
        return {}
    if content_type == "application/json" or body.startswith("{"):
        parsed = _object(body, "body")
    else:
        params = dict(parse_qsl(body, keep_blank_values=True))
        if "payload" not in params:
            return params
        parsed = _object(params["payload"], "payload field")
    if "event" in parsed and not isinstance(parsed["event"], dict):
        raise UsageError("malformed request: the event is not a JSON object")
    return parsed


def _object(text: str, what: str) -> dict[str, Any]:
    try:
        parsed = json.loads(text)
    # not JSON, or nested deeper than the parser goes
    except (ValueError, RecursionError):
        raise UsageError(f"malformed request: the {what} is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise UsageError(f"malformed request: the {what} is not a JSON object")
    return parsed


def bolt_request(body: str, **options: Any) -> AsyncBoltRequest:
    """Build Bolt's request from a raw body; raise UsageError with a reason when Slack would not send it."""
    try:
        return AsyncBoltRequest(body=body, **options)
    except UsageError:
        raise
    # Building a request only parses: Bolt reading its context from a field of another shape
    # (a number where an id or an object goes) raises one of these, and nothing else does.
    except (LookupError, TypeError, AttributeError, ValueError):
        raise UsageError(NOT_SLACK_SHAPED) from None


def apply() -> None:
    setattr(async_request, "parse_body", parse_body)  # noqa: B010 -- replacing a module function on purpose
