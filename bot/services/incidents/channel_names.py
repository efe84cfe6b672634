"""Incident channel names: `inc-<n>-<slug>` (or `drill-<n>-<slug>`), valid for Slack.

Owns the slug of a title and the channel-name pattern; pure functions with no I/O.
"""

from __future__ import annotations

import re
import unicodedata

CHANNEL_NAME = re.compile(r"^[a-z0-9_-]{1,80}$")


def slugify(text: str, *, limit: int = 60) -> str:
    """Lower-case ASCII words joined by '-', at most `limit` characters, never empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "incident"


def channel_name(
    number: int, title: str, *, drill: bool = False, suffix: int = 0
) -> str:
    """`inc-<n>-<slug>` (or `drill-<n>-<slug>`), a valid Slack channel name of at most 80 characters."""
    prefix = f"{'drill' if drill else 'inc'}-{number}-"
    tail = f"-{suffix}" if suffix else ""
    slug = slugify(title, limit=80 - len(prefix) - len(tail))
    return f"{prefix}{slug}{tail}"
