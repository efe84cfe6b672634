"""The views (modals) the bot opened: the one place a modal is opened, and the check that a
submitted view is one of them (issue 12).

`open_view` is the only caller of Slack's `views.open` in the bot (tests/test_views.py scans the
source for others, and for `views.push` and `views.update`). It is called right after the ack, not
through the outbox: a trigger id lives 3 seconds (so the view is redacted here, as the outbox redacts
what it sends). It records the id Slack gave the view, whom it was
opened for, its callback id and the inbox request that opened it; a request replayed after a crash
that finds its view recorded opens no second one (issue 13). A crash between Slack's answer and the
record leaves a modal the bot does not know: its submission is refused and the person opens it again
(a replay cannot open it twice: Slack accepts a trigger id once).

`check_submission` is called by the listener wrapper (`handlers.middleware.journaled`) for every
`view_submission` and `view_closed` before the listener or the authorisation table is consulted: a
view the bot never opened, or opened for someone else or as another form, is refused there and its
listener never runs. `submitted_value` and `carried_metadata` read what a submission holds. Must
not decide who may use a form: the authorisation table does.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import PermissionDenied, UsageError
from bot.redaction import redact_posted
from bot.services import Services
from handlers.ids import VALUE

log = logging.getLogger(__name__)

# The request types that carry a view back to the bot.
SUBMISSIONS = frozenset({"view_submission", "view_closed"})
REFUSAL = (
    "warroom did not open this form for you, so it was not accepted."
    " Open it again with the command or button."
)


async def open_view(
    client: AsyncWebClient,
    services: Services,
    *,
    view: dict[str, Any],
    trigger_id: str,
    user_id: str,
    source: str,
) -> None:
    """Open `view` for `user_id` with the trigger of request `source`, once per request.

    Args:
        user_id: the person whose click or command carries `trigger_id`, the only one who may
            submit the view.
        source: the inbox key of the request; a replay of it that finds the view it opened
            recorded opens nothing.
    """
    opened = await services.storage.view_for_request(source)
    if opened is not None:
        log.info(
            "request %s opened view %s before: not opened again", source, opened.view_id
        )
        return
    # Not through the outbox, so redacted here as the outbox would (a title typed with a secret).
    response = await client.views_open(trigger_id=trigger_id, view=redact_posted(view))
    await services.storage.view_record(
        view_id=str(response["view"]["id"]),
        user_id=user_id,
        callback_id=str(view.get("callback_id") or ""),
        source=source,
        now=services.clock(),
    )


async def check_submission(services: Services, body: dict[str, Any]) -> None:
    """Raise PermissionDenied unless the view a submission carries is one the bot opened for its
    sender, as the same form (callback id); other requests pass untouched."""
    if body.get("type") not in SUBMISSIONS:
        return
    view = body.get("view") if isinstance(body.get("view"), dict) else {}
    user = body.get("user") if isinstance(body.get("user"), dict) else {}
    view_id = str((view or {}).get("id") or "")
    callback_id = str((view or {}).get("callback_id") or "")
    user_id = str((user or {}).get("id") or "")
    opened = await services.storage.view_get(view_id) if view_id else None
    if opened is None:
        reason = "the bot never opened it"
    elif opened.user_id != user_id:
        reason = f"it was opened for {opened.user_id}"
    elif opened.callback_id != callback_id:
        reason = f"it was opened as {opened.callback_id!r}"
    else:
        return
    log.warning(
        "refused %s of view %r (%r) by %r: %s",
        body.get("type"),
        view_id[:40],
        callback_id[:40],
        user_id[:40],
        reason,
    )
    raise PermissionDenied(REFUSAL)


async def open_for_click(
    client: AsyncWebClient,
    services: Services,
    body: dict[str, Any],
    *,
    view: dict[str, Any],
    source: str,
) -> None:
    """Open `view` for the person whose button click `body` is (`open_view` with its trigger)."""
    await open_view(
        client,
        services,
        view=view,
        trigger_id=body["trigger_id"],
        user_id=body["user"]["id"],
        source=source,
    )


def submitted_value(values: dict[str, Any], block: str) -> Any:
    """The submitted value of an input block, whatever its element type."""
    element = (values.get(block) or {}).get(VALUE) or {}
    kind = element.get("type")
    if kind == "static_select":
        return (element.get("selected_option") or {}).get("value")
    if kind in ("multi_static_select", "checkboxes"):
        return [o["value"] for o in element.get("selected_options") or []]
    if kind == "datepicker":
        return element.get("selected_date")
    if kind == "users_select":
        return element.get("selected_user")
    if kind == "datetimepicker":
        stamp = element.get("selected_date_time")
        try:
            return datetime.fromtimestamp(stamp, UTC) if stamp else None
        except (ValueError, OverflowError, OSError, TypeError):
            return "not a date"  # validation turns it into a field error
    return element.get("value")


def button_id(body: dict[str, Any], what: str = "button") -> int:
    """The number a button carries as its value (an incident, an alert); a UsageError naming
    `what` when a click carries none."""
    try:
        return int(body["actions"][0]["value"])
    except (KeyError, IndexError, TypeError, ValueError):
        raise UsageError(f"That {what} is not valid.") from None


def carried_id(view: dict[str, Any], key: str) -> int | None:
    """The number a form carries in its private_metadata under `key` (`incident`, `alert`);
    None when it carries none: the form is no longer valid."""
    try:
        return int(carried_metadata(view)[key])
    except (KeyError, TypeError, ValueError):
        return None


def carried_metadata(view: dict[str, Any]) -> dict[str, Any]:
    """What a form carries in its private_metadata (the declare form: `drill`, `alert`; the
    dismiss form: `alert`); {} when it carries nothing readable."""
    try:
        found = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
