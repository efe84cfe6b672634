"""`warroom demo` runs a whole incident against the local stand-ins and exits 0 only if every step worked."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from bot.sandbox.demo import run_demo
from tests.browser import CHROMIUM, chromium

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(400)
async def test_demo_database_failure_end_to_end(tmp_path):
    before = dict(os.environ)
    lines: list[str] = []
    assert await run_demo("database-failure", directory=tmp_path, out=lines.append) == 0
    transcript = "\n".join(lines)
    for expected in (
        "✔ Alice declares a SEV1",
        "PagerDuty is not configured",
        "You requested this step, so you cannot approve it",
        "approvals 2 of 2: @bob, @carol",
        "endpoint: bodyscript-production-restored",
        "INCIDENT RESOLVED",
        "Demo finished: every step succeeded.",
    ):
        assert expected in transcript, expected
    path = transcript.rsplit("Post-mortem draft: ", 1)[1].splitlines()[0].strip()
    status_page = transcript.rsplit("Status page: ", 1)[1].split(" (served", 1)[0]
    shown = Path(status_page).read_text(encoding="utf-8")  # noqa: ASYNC240 -- a small file, after the run
    assert "Logins and uploads work again" in shown  # the demo's public update
    assert "Restored bodyscript-restored" not in shown  # its internal message
    if (
        CHROMIUM is not None
    ):  # as a visitor sees it (tests/test_status_page_browser.py skips without)
        dom = await chromium(
            tmp_path / "profile", "--dump-dom", Path(status_page).as_uri()
        )
        assert "Logins and uploads work again" in dom
        assert 'data-status="resolved"' in dom
    draft = Path(path).read_text(encoding="utf-8")  # noqa: ASYNC240 -- a small file, after the run
    assert "restore_db_instance_from_db_snapshot" in draft
    assert "RPO" in draft
    # Approvers are named by their Slack handles, never by a lowercased id (issue 14).
    assert "| @alice | @bob, @carol |" in draft
    assert "@ubob" not in draft
    assert "@ucarol" not in draft
    assert dict(os.environ) == before  # the sandbox's AWS settings do not leak

    # The same directory again: a second incident in its own channel (issue 14).
    again: list[str] = []
    code = await run_demo("database-failure", directory=tmp_path, out=again.append)
    assert code == 0, "\n".join(again)[-3000:]
    with closing(sqlite3.connect(tmp_path / "warroom.db")) as db:
        rows = db.execute(
            "select number, channel_id, status from incidents order by number"
        ).fetchall()
    assert [(n, s) for n, _, s in rows] == [(1, "resolved"), (2, "resolved")]
    assert rows[0][1] != rows[1][1]


def test_demo_refuses_a_misspelt_scenario_before_starting(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli.main", "demo", "databse-failure"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 2
    assert "No incident scenario 'databse-failure'. Did you mean database-failure?" in (
        done.stdout
    )
    assert list(tmp_path.iterdir()) == []  # no world was started, no folder made
