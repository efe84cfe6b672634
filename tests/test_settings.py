"""Settings that are not valid JSON are listed with every other problem, in the user's words."""

from __future__ import annotations

import pytest

from bot.config import load_settings
from bot.errors import ConfigError
from tests.plugins.slack import FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET


def test_every_bad_json_setting_is_listed_at_once(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", FAKE_BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", FAKE_SIGNING_SECRET)
    monkeypatch.setenv("WARROOM_RESPONDERS", "U123")  # not a JSON list
    monkeypatch.setenv("WARROOM_SEVERITIES", "{not json")
    monkeypatch.setenv("WARROOM_ROLES", '["scribe"]')  # valid JSON, a bad value
    with pytest.raises(ConfigError) as raised:
        load_settings("run")
    problems = raised.value.problems
    assert (
        "WARROOM_RESPONDERS: is not valid JSON (README, Settings, shows each setting's shape)"
        in problems
    )
    assert any(p.startswith("WARROOM_SEVERITIES: is not valid JSON") for p in problems)
    assert any(p.startswith("WARROOM_ROLES:") for p in problems)
    assert not any("Value error" in p for p in problems)


def test_json_settings_still_parse(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", FAKE_BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", FAKE_SIGNING_SECRET)
    monkeypatch.setenv("WARROOM_APPROVERS", '["UBOB", "S0APPROVE"]')
    assert load_settings("run").approvers == ["UBOB", "S0APPROVE"]
