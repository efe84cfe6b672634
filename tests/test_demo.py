"""`warroom demo` runs a whole incident against the local stand-ins and exits 0 only if every step worked."""

from __future__ import annotations

import os
from pathlib import Path

from bot.sandbox.demo import run_demo


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
    path = transcript.rsplit("Post-mortem draft: ", 1)[1].strip()
    draft = Path(path).read_text(encoding="utf-8")  # noqa: ASYNC240 -- a small file, after the run
    assert "restore_db_instance_from_db_snapshot" in draft
    assert "RPO" in draft
    assert dict(os.environ) == before  # the sandbox's AWS settings do not leak
