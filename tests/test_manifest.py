"""The manifest declares exactly what the handlers use: every event they listen to and every scope
the Web API methods they call need, and no scope that nothing uses."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = yaml.safe_load((ROOT / "manifest.yml").read_text())

# Web API method -> the bot scopes it needs (public and private channel variants).
METHOD_SCOPES = {
    "chat.postMessage": {"chat:write", "chat:write.public"},
    "chat.update": {"chat:write"},
    "chat.postEphemeral": {"chat:write"},
    "conversations.create": {"channels:manage", "groups:write"},
    "conversations.invite": {"channels:manage", "groups:write"},
    "conversations.setTopic": {"channels:manage", "groups:write"},
    "conversations.archive": {"channels:manage", "groups:write"},
    "pins.add": {"pins:write"},
    "files.getUploadURLExternal": {"files:write"},
    "files.completeUploadExternal": {"files:write"},
    "usergroups.users.list": {"usergroups:read"},
    "users.info": {"users:read", "users:read.email"},
    "users.lookupByEmail": {"users:read.email"},
    "auth.test": set(),
    "conversations.history": {"channels:history", "groups:history"},
    "users.conversations": {"channels:read", "groups:read"},
    "conversations.members": {"channels:read", "groups:read"},
    "views.open": set(),
    "views.publish": set(),
}
# Bolt event name -> manifest bot events and the scopes those events need.
EVENT_SUBSCRIPTIONS = {
    "message": (
        {"message.channels", "message.groups"},
        {"channels:history", "groups:history"},
    ),
    "pin_added": ({"pin_added"}, {"pins:read"}),
    "reaction_added": ({"reaction_added"}, {"reactions:read"}),
    "app_home_opened": ({"app_home_opened"}, set()),
}


def _sources() -> str:
    files = [
        *ROOT.glob("handlers/**/*.py"),
        *ROOT.glob("bot/services/**/*.py"),
        *ROOT.glob("bot/gateways/slack/*.py"),
    ]
    return "\n".join(p.read_text() for p in files)


def methods_used() -> set[str]:
    text = _sources()
    methods = set(re.findall(r'method="([a-z]+\.[A-Za-z.]+)"', text))
    methods |= set(re.findall(r'self\._call\(\s*"([a-z]+\.[A-Za-z.]+)"', text))
    methods |= set(
        re.findall(
            r'(?:self\._in_channel|mine)\(\s*[^,]+,\s*"([a-z]+\.[A-Za-z.]+)"', text
        )
    )
    # slack_sdk names methods after the Web API with "_" for "." (client.chat_postEphemeral).
    calls = set(re.findall(r"client\.([a-z]+_[A-Za-z_]+)\(", text)) - {"api_call"}
    return methods | {name.replace("_", ".") for name in calls}


def events_used() -> set[str]:
    return set(re.findall(r'app\.event\("([a-z_]+)"\)', _sources()))


def test_manifest_has_one_slash_command_with_socket_mode_and_app_home():
    commands = MANIFEST["features"]["slash_commands"]
    assert [c["command"] for c in commands] == ["/incident"]
    assert MANIFEST["settings"]["socket_mode_enabled"] is True
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True


def test_manifest_declares_every_method_scope_and_event_the_handlers_use():
    methods = methods_used()
    assert {
        "chat.postMessage",
        "conversations.create",
        "views.open",
        "pins.add",
    } <= methods
    unknown = methods - METHOD_SCOPES.keys()
    assert not unknown, (
        f"add these methods and their scopes to METHOD_SCOPES and the manifest: {unknown}"
    )
    needed = {"commands"}.union(*(METHOD_SCOPES[m] for m in methods))
    events = events_used()
    assert events, "no event listeners found"
    for event in events:
        subscriptions, scopes = EVENT_SUBSCRIPTIONS[event]
        assert subscriptions <= set(
            MANIFEST["settings"]["event_subscriptions"]["bot_events"]
        ), event
        needed |= scopes
    declared = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    assert needed - declared == set(), "scopes missing from manifest.yml"
    assert declared - needed == set(), "manifest.yml asks for scopes nothing uses"
