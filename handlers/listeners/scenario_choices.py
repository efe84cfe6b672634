"""The scenarios offered in the declare modal, as (id, title) pairs from the loaded scenario files."""

from __future__ import annotations

from bot.services import Services


def scenario_choices(services: Services) -> list[tuple[str, str]]:
    return sorted((sid, title) for sid, title in services.scenario_titles.items())
