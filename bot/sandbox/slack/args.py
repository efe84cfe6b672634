"""Arguments of a Web API call to the local Slack workspace, and Slack's error signal.

Owns reading one argument the way Slack does (from a query string, a form body or a JSON body, so
values may be strings, comma-joined lists or JSON text) and `SlackError`, which carries Slack's own
error string. Must not know any workspace state or any particular method.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

# Fields that slack_sdk sends as JSON text in query strings and form bodies, but as real JSON
# arrays/objects in JSON bodies. They are decoded once so handlers and recorded calls see one shape.
JSON_FIELDS = ("blocks", "attachments", "view", "files", "metadata")


class SlackError(Exception):
    """A Web API failure answered as `{"ok": false, "error": error}` with HTTP 200."""

    def __init__(self, error: str, *, messages: Sequence[str] = ()) -> None:
        super().__init__(error)
        self.error = error
        self.messages = list(messages)

    def body(self) -> dict[str, Any]:
        """Return Slack's response body for this error."""
        body: dict[str, Any] = {"ok": False, "error": self.error}
        if self.messages:
            body["response_metadata"] = {"messages": self.messages}
        return body


def decode_json_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """Decode the JSON-text fields (`blocks`, `view`, ...) that form and query encodings carry."""
    decoded = dict(values)
    for name in JSON_FIELDS:
        value = decoded.get(name)
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            # Bad JSON is left as text: the method then answers invalid_blocks / invalid_arguments.
            with contextlib.suppress(json.JSONDecodeError):
                decoded[name] = json.loads(value)
    return decoded


class Args:
    """The merged arguments of one call, with Slack's parsing rules.

    `origin` is the stand-in's own address (`http://127.0.0.1:PORT/`), used by methods that hand out
    URLs served by the stand-in (file uploads).
    """

    def __init__(self, values: Mapping[str, Any], *, origin: str = "") -> None:
        self.values = dict(values)
        self.origin = origin

    def get(self, name: str) -> Any:
        """Return the raw value, or None when absent or empty (Slack treats both alike)."""
        value = self.values.get(name)
        return None if value in ("", None) else value

    def text(self, name: str, *, error: str = "invalid_arguments") -> str:
        """Return a required string argument, or fail with `error`."""
        value = self.get(name)
        if value is None:
            raise SlackError(error)
        return str(value)

    def optional_text(self, name: str) -> str | None:
        """Return a string argument or None."""
        value = self.get(name)
        return None if value is None else str(value)

    def flag(self, name: str) -> bool:
        """Return a boolean argument (`true`, `1` or a JSON true)."""
        value = self.get(name)
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("true", "1") if value is not None else False

    def number(self, name: str, default: int) -> int:
        """Return an integer argument or `default`."""
        value = self.get(name)
        if value is None:
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments") from None

    def ids(self, name: str) -> list[str]:
        """Return a list argument sent as `a,b,c` or as a JSON array."""
        value = self.get(name)
        if value is None:
            return []
        items = value if isinstance(value, list) else str(value).split(",")
        return [str(item).strip() for item in items if str(item).strip()]

    def json(self, name: str, *, error: str = "invalid_arguments") -> Any:
        """Return a JSON argument (already decoded, or JSON text), failing with `error` on bad JSON."""
        value = self.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                raise SlackError(
                    error, messages=[f"[ERROR] invalid JSON in `{name}`"]
                ) from None
        return value
