"""The `/incident update` modal submission: validated before the ack (field errors go back to the
modal), then one call to the status-update service."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.models.incidents import Status
from bot.services import Services
from handlers.access import Allow
from handlers.ids import VALUE, Callback
from handlers.ids import Field as F
from handlers.middleware import journaled


def _values(body: dict[str, Any]) -> tuple[str, str, str]:
    values = body["view"]["state"]["values"]
    status = ((values.get(F.UPDATE_STATUS) or {}).get(VALUE) or {}).get(
        "selected_option"
    ) or {}
    message = ((values.get(F.UPDATE_MESSAGE) or {}).get(VALUE) or {}).get("value") or ""
    public = ((values.get(F.UPDATE_PUBLIC) or {}).get(VALUE) or {}).get("value") or ""
    return str(status.get("value") or ""), str(message).strip(), str(public).strip()


async def handle_update_submission(
    ack: AsyncAck, body: dict[str, Any], inbox_key: str, services: Services
) -> None:
    raw_status, message, public = _values(body)
    errors: dict[str, str] = {}
    if raw_status not in {s.value for s in Status if s is not Status.RESOLVED}:
        errors[F.UPDATE_STATUS] = "Choose investigating, identified or monitoring."
    if len(message) < 3:
        errors[F.UPDATE_MESSAGE] = "Write what changed since the last update."
    try:
        number = int(
            json.loads(body["view"].get("private_metadata") or "{}")["incident"]
        )
    except (ValueError, KeyError, TypeError):
        errors[F.UPDATE_MESSAGE] = (
            "This form is no longer valid; run /incident update again."
        )
        number = 0
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    await ack()
    await services.comms.updates.post(
        number=number,
        status=Status(raw_status),
        message=message,
        public=public,
        actor=body["user"]["id"],
        source=inbox_key,
    )


def register(app: AsyncApp) -> None:
    app.view(Callback.UPDATE)(
        journaled(
            handle_update_submission, allow=Allow.RESPONDER, what="post status updates"
        )
    )
