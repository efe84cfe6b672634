"""Storage section: the views (modals) the bot opened, each keyed by the inbox request that opened it.

A view is recorded once Slack answered `views.open` with its id (`view_record`); a request replayed
after a crash finds the view it opened (`view_for_request`) and opens no second one, and a
submission is checked against the row of its view id (`view_get`). A row is deleted with the inbox
row of its request when the journal is pruned (a trigger, see `bot/migrations.py`). Knows nothing
of Slack beyond the ids it stores.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from bot.models.incidents import from_iso, to_iso
from bot.storage.base import StorageBase


class OpenedView(BaseModel):
    """A view the bot opened: for whom, as which form, and by which request."""

    view_id: str
    user_id: str
    callback_id: str
    source: str  # the inbox key of the request that opened it
    opened_at: datetime


def _view(row: dict[str, Any] | None) -> OpenedView | None:
    if row is None:
        return None
    return OpenedView.model_validate({**row, "opened_at": from_iso(row["opened_at"])})


class ViewStore(StorageBase):
    async def view_record(
        self,
        *,
        view_id: str,
        user_id: str,
        callback_id: str,
        source: str,
        now: datetime,
    ) -> None:
        """Record that request `source` opened view `view_id` for `user_id`; its first view stands."""
        sql = (
            "insert into opened_views (view_id, user_id, callback_id, source, opened_at)"
            " values (?, ?, ?, ?, ?) on conflict do nothing"
        )
        await self._call(
            self.db.execute, sql, [view_id, user_id, callback_id, source, to_iso(now)]
        )

    async def view_get(self, view_id: str) -> OpenedView | None:
        """The view the bot opened with this id; None when it opened none."""
        sql = "select * from opened_views where view_id = ?"
        return _view(await self._call(self._one, sql, [view_id]))

    async def view_for_request(self, source: str) -> OpenedView | None:
        """The view request `source` opened; None when it opened none."""
        sql = "select * from opened_views where source = ?"
        return _view(await self._call(self._one, sql, [source]))
