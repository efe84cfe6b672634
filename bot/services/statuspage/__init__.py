"""The public status page: `StatusPageService`."""

from bot.services.statuspage.service import StatusPageService

__all__ = ["StatusPageService"]
