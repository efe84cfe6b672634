"""A fix for slack-bolt's form-body parser, applied once at start-up.

Bolt parses any form body that contains the substring "payload" as an interaction payload, so
`/incident note payload service down` became an empty request and a 404 (verified on slack-bolt
1.30; see the research notes). This parser looks for a real `payload` field instead. Remove it
when Bolt fixes `slack_bolt.request.internals.parse_body`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import slack_bolt.request.async_request as async_request


def parse_body(body: str, content_type: str | None) -> dict[str, Any]:
    if not body:
        return {}
    if content_type == "application/json" or body.startswith("{"):
        parsed: dict[str, Any] = json.loads(body)
        return parsed
    params = dict(parse_qsl(body, keep_blank_values=True))
    if "payload" in params:
        payload: dict[str, Any] = json.loads(params["payload"])
        return payload
    return params


def apply() -> None:
    setattr(async_request, "parse_body", parse_body)  # noqa: B010 -- replacing a module function on purpose
