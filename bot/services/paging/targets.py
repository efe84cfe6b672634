"""Who a page goes to: the route from (scenario, severity) to PagerDuty, and turning what a person
typed (`<@U…>`, a policy or service name or id) into a PagerDuty object.

Owns target resolution (a Slack user through their email), and the on-call lookup for a route.
Must not: queue or send pages (that is `pages.py` and `worker.py`), or know about Slack beyond
`CommsPort`'s email lookup.
"""

from __future__ import annotations

import re

from bot.config import PagerRoute, Settings
from bot.errors import NotFound, UsageError
from bot.gateways.pagerduty.pager import LogOnlyPager, OnCall, Pager, PdObject
from bot.services.ports import CommsPort

_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")


def route_for(
    settings: Settings, *, scenario: str | None, severity: str
) -> PagerRoute | None:
    """The most specific route: `<scenario>/<SEV>`, then `<scenario>`, `<SEV>`, `default`."""
    keys = [f"{scenario}/{severity}", scenario] if scenario else []
    for key in [*keys, severity, "default"]:
        if key and key in settings.pagerduty_routes:
            return settings.pagerduty_routes[key]
    return None


class PageTargets:
    """Resolve page targets and on-call through the pager's directory."""

    def __init__(self, *, settings: Settings, pager: Pager, port: CommsPort) -> None:
        self.settings, self.pager, self.port = settings, pager, port

    @property
    def log_only(self) -> bool:
        return isinstance(self.pager, LogOnlyPager)

    async def oncall(self, route: PagerRoute | None) -> list[OnCall]:
        """Who is on call now for the route's policy (or every configured policy)."""
        policies = {
            r.escalation_policy_id for r in self.settings.pagerduty_routes.values()
        }
        if route and route.escalation_policy_id:
            policies = {route.escalation_policy_id}
        return await self.pager.oncall(
            escalation_policy_ids=sorted(p for p in policies if p)
        )

    async def find(self, text: str) -> PdObject:
        """Resolve `<@U…>`, an escalation policy or a service (id or name) to a PagerDuty object."""
        text = text.strip()
        mention = _MENTION.match(text)
        if mention:
            return await self._user(mention.group(1))
        wanted = text.lower()
        for kind in ("escalation_policy", "service"):
            found = await self.pager.directory(kind=kind, query="")
            matches = [o for o in found if wanted in (o.id.lower(), o.name.lower())]
            if matches:
                return matches[0]
        if self.log_only:
            return PdObject(kind="escalation_policy", id=text, name=text)
        raise UsageError(
            f"No PagerDuty escalation policy or service is called {text[:60]!r}; "
            "give a @user, a policy or a service (name or id)."
        )

    async def _user(self, user_id: str) -> PdObject:
        email = await self.port.email_of(user_id)
        if not email:
            raise UsageError(
                f"<@{user_id}> has no email the bot can see, so they cannot be paged."
            )
        if self.log_only:
            return PdObject(kind="user", id=email, name=email, email=email)
        users = await self.pager.directory(kind="user", query=email)
        match = next(
            (u for u in users if (u.email or "").lower() == email.lower()), None
        )
        if match is None:
            raise NotFound(f"<@{user_id}> ({email}) is not a PagerDuty user.")
        return match
