"""Web API methods on views: views.open, views.update, views.push and views.publish.

Owns modal stacks, App Home tabs, trigger id checks, view hashes and the body each method answers
with, using Slack's error strings. Must not speak HTTP, record calls or inject faults.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from bot.sandbox.slack.args import Args, SlackError
from bot.sandbox.slack.blocks import check_view
from bot.sandbox.slack.records import View
from bot.sandbox.slack.state import WorkspaceState

MAX_STACK = 3


def _new_hash() -> str:
    return f"{secrets.randbelow(10**10)}.{secrets.token_hex(4)}"


def _trigger_user(ws: WorkspaceState, args: Args) -> str | None:
    trigger_id = args.optional_text("trigger_id")
    if trigger_id is None:
        raise SlackError(
            "invalid_arguments", messages=["[ERROR] missing required field: trigger_id"]
        )
    return ws.use_trigger(trigger_id)


def views_open(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    user_id = _trigger_user(ws, args)
    payload = check_view(args.json("view"), kind="modal")
    view_id = ws.new_id("V")
    view = View(view_id, payload, _new_hash(), user_id, root_view_id=view_id)
    ws.views[view.id] = view
    return {"view": view.to_json()}


def views_push(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    user_id = _trigger_user(ws, args)
    payload = check_view(args.json("view"), kind="modal")
    stack = [view for view in ws.views.values() if view.user_id == user_id]
    if not stack:
        raise SlackError("not_found")
    top = stack[-1]
    if sum(view.root_view_id == top.root_view_id for view in stack) >= MAX_STACK:
        raise SlackError("push_limit_reached")
    view = View(
        ws.new_id("V"),
        payload,
        _new_hash(),
        user_id,
        top.root_view_id,
        previous_view_id=top.id,
    )
    ws.views[view.id] = view
    return {"view": view.to_json()}


def _find(ws: WorkspaceState, args: Args) -> View:
    view_id, external_id = (
        args.optional_text("view_id"),
        args.optional_text("external_id"),
    )
    if view_id is None and external_id is None:
        raise SlackError(
            "invalid_arguments", messages=["[ERROR] view_id or external_id is required"]
        )
    for view in [*ws.views.values(), *ws.home_views.values()]:
        if view.id == view_id or (
            external_id is not None and view.external_id == external_id
        ):
            return view
    raise SlackError("not_found")


def _check_hash(view: View, args: Args) -> None:
    expected = args.optional_text("hash")
    if expected is not None and expected != view.hash:
        raise SlackError("hash_conflict")


def views_update(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    view = _find(ws, args)
    _check_hash(view, args)
    kind = str(view.payload.get("type") or "modal")
    view.payload = check_view(args.json("view"), kind=kind)
    view.hash = _new_hash()
    return {"view": view.to_json()}


def views_publish(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    user = ws.user(args.text("user_id", error="invalid_arguments"))
    payload = check_view(args.json("view"), kind="home")
    current = ws.home_views.get(user.id)
    if current is not None:
        _check_hash(current, args)
    view_id = current.id if current is not None else ws.new_id("V")
    view = View(view_id, payload, _new_hash(), user.id, root_view_id=view_id)
    ws.home_views[user.id] = view
    return {"view": view.to_json()}


METHODS: dict[str, Callable[[WorkspaceState, Args], dict[str, Any]]] = {
    "views.open": views_open,
    "views.push": views_push,
    "views.update": views_update,
    "views.publish": views_publish,
}
