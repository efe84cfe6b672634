"""Slack's published Web API rate limits, for the local workspace to enforce when asked.

Owns the tier of each method the bot calls (Tier 2: 20 a minute, Tier 3: 50, Tier 4: 100, per
method, per workspace, per app) and `chat.postMessage`'s own limit of one message a second per
channel, as Slack documents them. Slack tolerates short bursts "with no guarantee"; this stand-in
grants none, so what it measures is the worst Slack may do. A call over its limit is refused with
HTTP 429 and `Retry-After` (whole seconds, as Slack sends it) and takes no effect.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

MINUTE = 60.0
PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}
TIERS = {
    "conversations.create": 2,
    "conversations.setTopic": 2,
    "conversations.setPurpose": 2,
    "conversations.rename": 2,
    "conversations.archive": 2,
    "pins.add": 2,
    "bookmarks.add": 2,
    "usergroups.users.list": 2,
    "conversations.invite": 3,
    "conversations.history": 3,
    "conversations.replies": 3,
    "conversations.info": 3,
    "conversations.members": 3,
    "chat.update": 3,
    "reactions.add": 3,
    "users.lookupByEmail": 3,
    "chat.postEphemeral": 4,
    "views.open": 4,
    "views.update": 4,
    "views.push": 4,
    "views.publish": 4,
    "users.info": 4,
    "files.getUploadURLExternal": 4,
    "files.completeUploadExternal": 4,
}
POST_INTERVAL = 1.0  # chat.postMessage: one message a second per channel


class RateLimits:
    """Sliding windows per method (per channel for `chat.postMessage`) on the workspace's clock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._seen: dict[str, deque[float]] = {}
        self.refused = 0

    def retry_after(self, method: str, channel: str | None) -> int | None:
        """Whole seconds to wait when this call is over its limit, else None (and it is counted)."""
        if method == "chat.postMessage" and channel:
            key, allowed, window = f"{method}:{channel}", 1, POST_INTERVAL
        elif method in TIERS:
            key, allowed, window = method, PER_MINUTE[TIERS[method]], MINUTE
        else:
            return None
        now = self.clock()
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= now - window:
            seen.popleft()
        if len(seen) >= allowed:
            self.refused += 1
            return max(1, math.ceil(seen[0] + window - now))
        seen.append(now)
        return None
