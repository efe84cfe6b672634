"""Settings that are not valid JSON are listed with every other problem, in the user's words, and
`warroom check` and `warroom run` report bad settings with the same heading and exit code."""

from __future__ import annotations

import os
import subprocess
import sys

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


def _warroom(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot ARGS` as a person would, and capture what it printed."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_and_run_report_bad_settings_alike():
    """Issue 14, item 2: `check` exited 1 and `run` 2, with different headings, for the same settings."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "WARROOM_"))
    }
    env.update(
        SLACK_BOT_TOKEN=FAKE_BOT_TOKEN,
        SLACK_SIGNING_SECRET=FAKE_SIGNING_SECRET,
        WARROOM_SEVERITIES='[{"name": "SEV1", ',  # cut short: not JSON
        WARROOM_SLACK_API_URL="slack.com/api/",  # no scheme
    )
    check, run = _warroom("check", env=env), _warroom("run", env=env)
    for done in (check, run):
        assert done.returncode == 2, done.stdout + done.stderr
        assert "Traceback" not in done.stdout + done.stderr
    assert run.stdout == ""  # nothing started
    # The same heading and the same problems, in the same order.
    assert check.stderr == run.stderr
    heading, *problems = run.stderr.splitlines()
    assert heading == "Invalid configuration:"
    assert problems == [
        "  - WARROOM_SLACK_API_URL: String should match pattern '^https?://'",
        "  - WARROOM_SEVERITIES: is not valid JSON (README, Settings, shows each setting's shape)",
    ]
    # The scenarios were checked too, and counted with the settings.
    assert check.stdout.splitlines()[-1] == "2 problem(s)"
    # Both say so in their --help.
    for command in ("check", "run"):
        shown = " ".join(_warroom(command, "--help", env=env).stdout.split())
        assert "'Invalid configuration:'" in shown, shown
        assert "exits 2" in shown or "2 when the settings are invalid" in shown, shown
