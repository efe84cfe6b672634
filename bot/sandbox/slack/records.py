"""Identity and records of the local Slack workspace, with their Web API JSON shapes.

Owns the workspace's fixed identity (team, bot user, app), the seeded people, and the record types
(users, channels, messages, views, files, ephemeral messages) with the JSON each Web API method
returns for them. Must not hold collections of records or look anything up (`slack_state` does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TEAM_ID = "T0WARROOM"
TEAM_NAME = "Warroom Sandbox"
TEAM_DOMAIN = "warroom-sandbox"
WORKSPACE_URL = "https://sandbox.slack.test/"
BOT_USER_ID = "UWARROOM"
BOT_USER_NAME = "warroom"
BOT_ID = "BWARROOM"
APP_ID = "AWARROOM"
INCIDENT_RESPONSE_CHANNEL = "incident-response"
INCIDENT_RESPONSE_CHANNEL_ID = "C00000001"
TRIGGER_TTL_SECONDS = 3.0

SEED_USERS = (
    ("UALICE", "alice", "Alice Brown", "alice@example.com"),
    ("UBOB", "bob", "Bob Smith", "bob@example.com"),
    ("UCAROL", "carol", "Carol Jones", "carol@example.com"),
    ("UDAVE", "dave", "Dave Wilson", "dave@example.com"),
)


@dataclass
class User:
    id: str
    name: str
    real_name: str
    email: str
    is_bot: bool = False

    def to_json(self) -> dict[str, Any]:
        """Return the `user` object of users.info."""
        profile = {
            "real_name": self.real_name,
            "display_name": self.name,
            "email": self.email,
        }
        if self.is_bot:
            profile["bot_id"] = BOT_ID
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name,
            "deleted": False,
            "real_name": self.real_name,
            "tz": "Europe/London",
            "is_bot": self.is_bot,
            "is_admin": False,
            "profile": profile,
        }


@dataclass
class Usergroup:
    id: str
    handle: str
    members: list[str]


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool
    creator: str
    created: int
    members: list[str] = field(default_factory=list)
    topic: str = ""
    purpose: str = ""
    archived: bool = False
    is_im: bool = False
    # ts -> (pinned_by, when)
    pins: dict[str, tuple[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the `channel` object of conversations.info, as the bot sees it."""
        if self.is_im:
            return {
                "id": self.id,
                "is_im": True,
                "user": self.members[0],
                "created": self.created,
            }
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "is_archived": self.archived,
            "is_general": False,
            "is_shared": False,
            "is_org_shared": False,
            "is_member": BOT_USER_ID in self.members,
            "created": self.created,
            "creator": self.creator,
            "topic": {
                "value": self.topic,
                "creator": self.creator if self.topic else "",
                "last_set": 0,
            },
            "purpose": {
                "value": self.purpose,
                "creator": self.creator if self.purpose else "",
                "last_set": 0,
            },
            "previous_names": [],
            "num_members": len(self.members),
        }


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    user: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    edited: dict[str, str] | None = None
    reactions: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    subtype: str | None = None
    metadata: dict[str, Any] | None = (
        None  # Slack's message metadata (event_type, event_payload)
    )

    @property
    def by_bot(self) -> bool:
        return self.user == BOT_USER_ID

    def to_json(self) -> dict[str, Any]:
        """Return the message object as conversations.history returns it (thread fields apart)."""
        data: dict[str, Any] = {
            "type": "message",
            "user": self.user,
            "text": self.text,
            "ts": self.ts,
        }
        data["team"] = TEAM_ID
        if self.subtype:
            data["subtype"] = self.subtype
        if self.by_bot:
            data["bot_id"] = BOT_ID
            data["app_id"] = APP_ID
            data["bot_profile"] = {
                "id": BOT_ID,
                "app_id": APP_ID,
                "name": BOT_USER_NAME,
                "team_id": TEAM_ID,
            }
        if self.blocks:
            data["blocks"] = self.blocks
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        if self.edited:
            data["edited"] = self.edited
        if self.reactions:
            data["reactions"] = self.reactions
        if self.files:
            data["files"] = self.files
        return data


@dataclass
class View:
    id: str
    payload: dict[str, Any]
    hash: str
    user_id: str | None
    root_view_id: str
    previous_view_id: str | None = None

    @property
    def external_id(self) -> str:
        return str(self.payload.get("external_id") or "")

    def to_json(self) -> dict[str, Any]:
        """Return the `view` object views.open/update/push/publish answer with."""
        view = {
            "id": self.id,
            "team_id": TEAM_ID,
            "type": self.payload.get("type"),
            "blocks": self.payload.get("blocks", []),
            "private_metadata": self.payload.get("private_metadata", ""),
            "callback_id": self.payload.get("callback_id", ""),
            "state": {"values": {}},
            "hash": self.hash,
            "title": self.payload.get("title"),
            "clear_on_close": bool(self.payload.get("clear_on_close", False)),
            "notify_on_close": bool(self.payload.get("notify_on_close", False)),
            "close": self.payload.get("close"),
            "submit": self.payload.get("submit"),
            "previous_view_id": self.previous_view_id,
            "root_view_id": self.root_view_id,
            "app_id": APP_ID,
            "external_id": self.external_id,
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }
        return view


@dataclass
class UploadedFile:
    id: str
    filename: str
    length: int
    created: int
    title: str = ""
    content: bytes | None = None
    channels: list[str] = field(default_factory=list)
    initial_comment: str = ""

    def to_json(self) -> dict[str, Any]:
        """Return the file object attached to the message that shares it."""
        return {
            "id": self.id,
            "name": self.filename,
            "title": self.title or self.filename,
            "size": len(self.content or b""),
            "user": BOT_USER_ID,
            "created": self.created,
            "channels": list(self.channels),
        }


@dataclass
class Ephemeral:
    channel: str
    user: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
