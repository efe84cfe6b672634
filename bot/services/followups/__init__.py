"""Follow-ups tracked to done: `FollowUpService`."""

from bot.services.followups.service import FollowUpService

__all__ = ["FollowUpService"]
