"""What Slack sends the bot: slash commands, block_actions, view_submission and Events API bodies.

Pure functions that build the request bodies exactly as Slack encodes them (form-encoded fields for
commands, one form field `payload` of JSON for interactions, a JSON document for events), plus
helpers for `state.values` entries. When a workspace is passed, trigger ids are registered with it
so `views.open` can check them, and the person acting is named by their handle there, as Slack
names them. Must not send anything, sign anything or change workspace state beyond registering
trigger ids.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from bot.sandbox.slack.records import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    SEED_USERS,
    TEAM_DOMAIN,
    TEAM_ID,
)

if TYPE_CHECKING:
    from bot.sandbox.slack.state import WorkspaceState

VERIFICATION_TOKEN = (
    "test-verification-token"  # deprecated by Slack but still sent in every body
)


def new_trigger_id(
    workspace: WorkspaceState | None = None, user_id: str | None = None
) -> str:
    """Return a trigger id shaped like Slack's (`1234.5678.abcdef`), registered if a workspace is given."""
    trigger_id = f"{secrets.randbelow(10**13)}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
    if workspace is not None:
        workspace.register_trigger(trigger_id, user_id)
    return trigger_id


def new_event_id() -> str:
    """Return a unique Events API id (`Ev0A1B2C3D4E`)."""
    return "Ev" + secrets.token_hex(5).upper()


def slash_command(
    *,
    command: str = "/incident",
    text: str,
    user_id: str,
    user_name: str,
    channel_id: str,
    channel_name: str,
    response_url: str,
    team_id: str = TEAM_ID,
    trigger_id: str | None = None,
    workspace: WorkspaceState | None = None,
) -> str:
    """Return a slash command body, form-encoded with Slack's field order."""
    fields = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or new_trigger_id(workspace, user_id),
    }
    return urlencode(fields)


def handle(user_id: str, workspace: WorkspaceState | None = None) -> str:
    """The Slack handle Slack sends for `user_id`: the workspace's member, else the seeded person.

    Only an id that is neither (a test's made-up user, with no workspace) falls back to the id in
    lower case; the sandbox's people are always named by their handles (`bob`, never `ubob`).
    """
    user = workspace.users.get(user_id) if workspace is not None else None
    if user is not None:
        return user.name
    seeded = {uid: name for uid, name, *_ in SEED_USERS}
    return seeded.get(user_id, user_id.lower())


def _interaction(
    kind: str,
    *,
    user_id: str,
    user_name: str | None,
    team_id: str,
    trigger_id: str,
    workspace: WorkspaceState | None,
) -> dict[str, Any]:
    name = user_name or handle(user_id, workspace)
    return {
        "type": kind,
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "user": {"id": user_id, "username": name, "name": name, "team_id": team_id},
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "is_enterprise_install": False,
        "enterprise": None,
    }


def _form_payload(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def block_actions(
    *,
    user_id: str,
    action_id: str,
    value: str = "",
    block_id: str = "actions",
    action_type: str = "button",
    text: str = "Button",
    channel_id: str | None = None,
    message_ts: str | None = None,
    message: dict[str, Any] | None = None,
    view: dict[str, Any] | None = None,
    trigger_id: str | None = None,
    response_url: str | None = None,
    team_id: str = TEAM_ID,
    user_name: str | None = None,
    workspace: WorkspaceState | None = None,
) -> str:
    """Return a `block_actions` body for a click on a message (channel + ts) or in a view.

    With a workspace, the clicked message is looked up so `message` carries its real blocks.
    """
    trigger = trigger_id or new_trigger_id(workspace, user_id)
    payload = _interaction(
        "block_actions",
        user_id=user_id,
        user_name=user_name,
        team_id=team_id,
        trigger_id=trigger,
        workspace=workspace,
    )
    action: dict[str, Any] = {
        "type": action_type,
        "action_id": action_id,
        "block_id": block_id,
        "action_ts": f"{time.time():.6f}",
    }
    if action_type == "static_select":  # Slack sends the chosen option, not a value
        action["selected_option"] = _option(value, text)
    else:
        action |= {
            "text": {"type": "plain_text", "text": text, "emoji": True},
            "value": value,
        }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id")}
        payload["view"] = view
    else:
        payload["container"] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        }
        payload["channel"] = {
            "id": channel_id,
            "name": _channel_name(workspace, channel_id),
        }
        payload["message"] = message or _message(workspace, channel_id, message_ts)
        payload["response_url"] = response_url
    payload["state"] = {"values": {}}
    payload["actions"] = [action]
    return _form_payload(payload)


def _channel_name(workspace: WorkspaceState | None, channel_id: str | None) -> str:
    if workspace is None or channel_id not in workspace.channels:
        return "unknown"
    return workspace.channels[channel_id].name


def _message(
    workspace: WorkspaceState | None, channel_id: str | None, ts: str | None
) -> dict[str, Any]:
    if workspace is not None and channel_id and ts:
        for message in workspace.history.get(channel_id, []):
            if message.ts == ts:
                return workspace.message_json(message)
    return {"type": "message", "ts": ts, "user": BOT_USER_ID, "text": "", "blocks": []}


def view_submission(
    *,
    user_id: str,
    callback_id: str,
    values: dict[str, dict[str, dict[str, Any]]],
    view_id: str,
    private_metadata: str = "",
    trigger_id: str | None = None,
    team_id: str = TEAM_ID,
    user_name: str | None = None,
    workspace: WorkspaceState | None = None,
) -> str:
    """Return a `view_submission` body; `values` is Slack's `state.values` (block → action → value).

    With a workspace, the opened view's blocks, title and hash are copied from the stored view.
    """
    trigger = trigger_id or new_trigger_id(workspace, user_id)
    payload = _interaction(
        "view_submission",
        user_id=user_id,
        user_name=user_name,
        team_id=team_id,
        trigger_id=trigger,
        workspace=workspace,
    )
    stored = workspace.views.get(view_id) if workspace is not None else None
    view: dict[str, Any] = (
        stored.to_json()
        if stored is not None
        else {
            "id": view_id,
            "team_id": team_id,
            "type": "modal",
            "blocks": [],
            "title": {"type": "plain_text", "text": "Modal", "emoji": True},
            "hash": "1700000000.abcdef01",
            "root_view_id": view_id,
            "previous_view_id": None,
            "external_id": "",
            "app_id": APP_ID,
            "bot_id": BOT_ID,
        }
    )
    view.update(
        {
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": values},
        }
    )
    payload["view"] = view
    payload["response_urls"] = []
    return _form_payload(payload)


def plain_text_value(value: str | None) -> dict[str, Any]:
    """Return a `plain_text_input` entry of `state.values`."""
    return {"type": "plain_text_input", "value": value}


def _option(value: str, text: str | None = None) -> dict[str, Any]:
    return {
        "text": {"type": "plain_text", "text": text or value, "emoji": True},
        "value": value,
    }


def static_select_value(value: str | None, text: str | None = None) -> dict[str, Any]:
    """Return a `static_select` entry (None means nothing selected)."""
    return {
        "type": "static_select",
        "selected_option": None if value is None else _option(value, text),
    }


def multi_static_select_value(values: list[str]) -> dict[str, Any]:
    """Return a `multi_static_select` entry."""
    return {
        "type": "multi_static_select",
        "selected_options": [_option(value) for value in values],
    }


def checkboxes_value(values: list[str]) -> dict[str, Any]:
    """Return a `checkboxes` entry (the boxes ticked)."""
    return {"type": "checkboxes", "selected_options": [_option(v) for v in values]}


def datetimepicker_value(epoch_seconds: int | None) -> dict[str, Any]:
    """Return a `datetimepicker` entry (Unix seconds)."""
    return {"type": "datetimepicker", "selected_date_time": epoch_seconds}


def users_select_value(user_id: str | None) -> dict[str, Any]:
    """Return a `users_select` entry."""
    return {"type": "users_select", "selected_user": user_id}


def event_envelope(
    event: dict[str, Any], *, team_id: str = TEAM_ID, event_id: str | None = None
) -> dict[str, Any]:
    """Return the Events API `event_callback` document that wraps `event`."""
    return {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or new_event_id(),
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": "4-" + secrets.token_hex(16),
    }


def event_callback(
    event: dict[str, Any], *, team_id: str = TEAM_ID, event_id: str | None = None
) -> str:
    """Return the Events API body for `event` as the JSON string Slack posts.

    `event` may be a bare event (`{"type": "message", ...}`) or an envelope a workspace's
    `user_*` action returned, which is encoded as it is.
    """
    if event.get("type") == "event_callback":
        return json.dumps(event)
    return json.dumps(event_envelope(event, team_id=team_id, event_id=event_id))
