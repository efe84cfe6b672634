"""`warroom drill`: every incident scenario rehearsed end to end against the sandbox, marked as a drill
everywhere, and scored against the plan's targets; a dry run sends no mutating AWS call.

The five sandbox drills run as `warroom drill` processes, all at once (moto's backends are per
process, so that is also the only way to run them side by side); the dry run runs in this process
behind the fault proxy, whose request log shows every AWS call the bot made.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.sandbox.drill.driver import run_drill
from bot.sandbox.drill.values import read_targets, score_table
from bot.sandbox.estate.names import Estate
from bot.sandbox.slack.workspace import SlackWorkspace
from bot.scenarios.operations import is_read_only
from bot.services.postmortem.facts import TargetResult
from handlers.ids import Callback
from tests.aws_fault_proxy import AwsFaultProxy
from tests.flows import declare_values, eventually, open_view
from tests.plugins.bot import RunningBot

SCENARIOS = (
    "complete-site-outage",
    "database-failure",
    "regional-aws-failure",
    "data-corruption",
    "security-incident",
)
ROOT = Path(__file__).resolve().parents[1]
# The scenarios whose drill restores the database, and the title of the step that restores it.
RESTORES = {
    "database-failure": "If corruption, restore from snapshot",
    "data-corruption": "Create point-in-time recovery",
    "regional-aws-failure": "Restore database from cross-region snapshot",
}


def settings_of(directory: Path) -> Settings:
    """The settings of a sandbox drill that worked in `directory` (its targets and database)."""
    return Settings(database_path=directory / "warroom.db")


@dataclass
class Finished:
    code: int
    transcript: str
    directory: Path


@pytest.fixture(scope="module")
def drills(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, subprocess.Popen[str]]]:
    """Start a `warroom drill` process per scenario, all at once; the tests wait for theirs."""
    base = tmp_path_factory.mktemp("drills")
    running = {
        scenario: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bot.cli.main",
                "drill",
                scenario,
                "--dir",
                str(base / scenario),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
        )
        for scenario in SCENARIOS
    }
    yield running
    for process in running.values():
        if process.poll() is None:
            process.kill()
        process.communicate()


def finished(drills: dict[str, subprocess.Popen[str]], scenario: str) -> Finished:
    process = drills[scenario]
    transcript, _ = process.communicate(timeout=240)
    directory = Path(transcript.split(", working in ", 1)[1].splitlines()[0])
    return Finished(process.returncode, transcript, directory)


@pytest.mark.timeout(300)
async def test_a_dry_run_drill_sends_no_mutating_aws_call(
    drills: dict[str, subprocess.Popen[str]],
    tmp_path: Path,
    aws_proxy: AwsFaultProxy,
    estate: Estate,
):
    lines: list[str] = []
    code = await run_drill(
        "database-failure",
        directory=tmp_path,
        dry_run=True,
        out=lines.append,
        aws_endpoint=aws_proxy.endpoint_url,
        estate=estate,
    )
    transcript = "\n".join(lines)
    assert code == 0, transcript[-3000:]
    # the estate was seeded straight into moto: these are the drill's
    calls = aws_proxy.calls
    assert calls, "the read-only steps reached AWS"
    mutating = [
        f"{c.service}:{c.operation}"
        for c in calls
        if not is_read_only(c.service, c.operation)
    ]
    assert mutating == []
    assert aws_proxy.count("rds:DescribeDBSnapshots") >= 2
    assert "dry run: planned and approved, not sent" in transcript
    assert "Drill finished: every step succeeded, was done or planned." in transcript
    # Nothing was restored, so the score measures no data loss (issue 14: it said "1s met").
    table = transcript.split("### Score against the plan's targets", 1)[1].split(
        "###", 1
    )[0]
    database = next(line for line in table.splitlines() if "(database)" in line)
    assert database.split()[-3:] == ["not", "measured", "—"], database
    assert "data loss is not measured because nothing was restored" in table
    # ... and the post-mortem, whose figures the score prints, says the same (issue 14, item 7: it
    # took the restore point from the read-only "Confirm the snapshot" step: "Data loss 1s met").
    targets = {t.component: t for t in read_targets(settings_of(tmp_path), 1)}
    assert (targets["database"].data_loss, targets["database"].rpo_met) == (None, None)
    assert targets["database"].restore_point is None
    draft = next((tmp_path / "postmortems").glob("INC-1-*.md")).read_text("utf-8")
    objectives = draft.split("### Recovery objectives", 1)[1].split("\n\n", 2)[1]
    row = next(line for line in objectives.splitlines() if "(database)" in line)
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[5:] == ["no restore", "—", "—"], row
    with closing(sqlite3.connect(tmp_path / "warroom.db")) as db:
        unsent = db.execute(
            "select state, dry_run from step_runs where step = 'restore-from-snapshot'"
        ).fetchall()
    assert unsent == [("skipped", 1)]  # the ledger says it was a dry run
    assert "(restore-from-snapshot) [dry run]" in draft


def test_score_table__prints_the_post_mortems_figures_and_words_no_data_loss():
    target = TargetResult(
        component="database",
        name="Database",
        rto=timedelta(minutes=30),
        recovery=timedelta(seconds=7),
        rpo=timedelta(minutes=15),
        data_loss=timedelta(seconds=2),
        restore_point=None,
        restore_step="If corruption, restore from snapshot",
    )
    row = ["Database", "(database)", "30m", "00s", "7s", "met", "15m", "00s"]
    assert score_table([target])[1].split() == [*row, "2s", "met"]
    unrestored = replace(target, data_loss=None, restore_step=None)
    assert score_table([unrestored])[1].split() == [*row, "no", "restore", "—"]
    assert score_table([unrestored], dry_run=True)[1].split() == [
        *row,
        "not",
        "measured",
        "—",
    ]


@pytest.mark.parametrize("command", ["drill", "demo"])
def test_a_misspelt_scenario_is_refused_before_anything_starts(tmp_path, command):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli.main",
            command,
            "database",
            "--dir",
            str(tmp_path / "d"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert (
        "No incident scenario 'database'. Did you mean database-failure?" in done.stdout
    )
    assert "security-incident" in done.stdout  # the choices are listed
    assert not (tmp_path / "d").exists()  # no world, no database, no folder


@pytest.mark.timeout(300)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_scenario_drills_end_to_end(
    drills: dict[str, subprocess.Popen[str]], scenario: str
):
    run = finished(drills, scenario)
    assert run.code == 0, run.transcript[-4000:]
    transcript = run.transcript
    assert "Drill finished: every step succeeded or was done." in transcript
    assert "✘" not in transcript
    # Marked as a drill: the channel, every notification, the post-mortem.
    with closing(sqlite3.connect(run.directory / "warroom.db")) as db:
        name, drill = db.execute("select channel_name, drill from incidents").fetchone()
    assert name.startswith("drill-1-")
    assert drill == 1
    assert f"Channel: #{name}" in transcript
    notices = [
        line
        for line in transcript.splitlines()
        if any(
            n in line
            for n in ("INCIDENT ALERT", "INCIDENT UPDATE", "INCIDENT RESOLVED")
        )
    ]
    assert len(notices) >= 3
    assert all("[DRILL]" in line for line in notices), notices
    draft = Path(transcript.rsplit("Post-mortem draft: ", 1)[1].strip())
    assert draft.read_text(encoding="utf-8").startswith(
        "# DRILL Post-mortem draft: INC-1"
    )
    # The score: a row per affected component, RTO and RPO against the plan's targets.
    table = transcript.split("### Score against the plan's targets", 1)[1].split(
        "###", 1
    )[0]
    assert "RTO target" in table
    assert "RPO target" in table
    rows = [
        line
        for line in table.splitlines()
        if line.strip().endswith(("met", "missed", "—"))
    ]
    assert len(rows) >= 2
    assert all(" met " in row or " missed " in row for row in rows), rows
    if scenario in RESTORES:
        # A real restore ran: its data loss is measured against the RPO, from that step.
        database = next(line for line in rows if "(database)" in line)
        assert database.split()[-1] in ("met", "missed"), database
        assert "not measured" not in database
        objectives = draft.read_text("utf-8").split("### Recovery objectives")[1]
        assert f"({RESTORES[scenario]})" in objectives


async def test_incident_drill_opens_the_declare_form_marked_as_a_drill(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    response = await bot.sender.command("drill no-such-scenario")
    assert response.status == 200

    async def told() -> bool:
        return any(
            "Name the scenario to rehearse" in e.text
            for e in slack_workspace.ephemerals
        )

    await eventually(told)
    view_id = await open_view(bot, slack_workspace, "drill database-failure")
    view = slack_workspace.views[view_id].payload
    assert view["title"]["text"] == "Declare a drill"
    response = await bot.sender.submit_view(
        callback_id=Callback.DECLARE,
        values=declare_values("Database failure"),
        view_id=view_id,
        private_metadata=view["private_metadata"],
    )
    assert response.status == 200, response.text

    async def declared() -> bool:
        incidents = await bot.services.storage.incidents()
        return bool(incidents and incidents[0].channel_id)

    await eventually(declared)
    incident = (await bot.services.storage.incidents())[0]
    assert incident.drill
    assert incident.channel_name == "drill-1-database-failure"
