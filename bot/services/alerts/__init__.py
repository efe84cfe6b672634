"""Alerts that may become incidents: `AlertService`."""

from bot.services.alerts.service import AlertService

__all__ = ["AlertService"]
