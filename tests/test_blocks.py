"""Block Kit builders stay inside Slack's limits whatever users type, and escape what they type."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import Settings
from bot.errors import UsageError
from bot.models.incidents import Incident
from bot.services.incidents.channel_names import CHANNEL_NAME, channel_name, slugify
from handlers.blocks import incidents as blocks
from handlers.commands import discover
from handlers.commands._registry import REGISTRY
from handlers.listeners import home

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
NASTY = st.one_of(
    st.text(max_size=4000),
    st.sampled_from(
        [
            "<!channel>",
            "<!here> &<>",
            "x" * 3500,
            "\x00\x07\x1b[31m",
            "$(rm -rf /); `id` | cat",
            "ÆØÅ 🚨",
        ]
    ),
)


def incident(title: str, number: int = 1, **extra) -> Incident:
    return Incident(
        number=number,
        title=title,
        severity="SEV1",
        commander="UALICE",
        channel_name="inc-1",
        channel_id="C1",
        declared_by="UALICE",
        declared_at=NOW,
        roles={"commander": "UALICE"},
        **extra,
    )


@settings(max_examples=200, deadline=None)
@given(
    number=st.integers(min_value=1, max_value=10**9),
    title=NASTY,
    drill=st.booleans(),
    suffix=st.integers(0, 999),
)
def test_generated_channel_names_are_always_valid(number, title, drill, suffix):
    assert CHANNEL_NAME.fullmatch(
        channel_name(number, title, drill=drill, suffix=suffix)
    )
    assert slugify(title)


@settings(max_examples=100, deadline=None)
@given(title=NASTY, description=NASTY)
def test_card_stays_within_slack_limits_and_escapes(title, description):
    card = blocks.incident_card(
        incident(title[:150] or "t", description=description), Settings()
    )
    assert len(card) <= blocks.MESSAGE_BLOCK_LIMIT
    assert card[0]["text"]["type"] == "plain_text"
    assert len(card[0]["text"]["text"]) <= 150
    for block in card:
        for field in block.get("fields", []):
            assert len(field["text"]) <= 2000
        assert len(block.get("text", {}).get("text", "")) <= 3000


@settings(max_examples=200, deadline=None)
@given(text=NASTY)
def test_every_subcommand_parser_raises_only_usage_errors(text):
    discover()
    for sub in REGISTRY.values():
        message = ""
        try:
            sub.parse(text)
        except UsageError as exc:
            message = exc.message
        assert not message or "Usage" in message


def test_escape_neutralises_mentions():
    assert blocks.escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"


def test_home_tab_stays_under_100_blocks_with_hundreds_of_incidents():
    many = [
        incident(f"incident number {n} " + "x" * 80, number=n) for n in range(1, 2001)
    ]
    view = home.home_view(many, now=NOW + timedelta(hours=2))
    assert len(view["blocks"]) <= 100
    assert len(json.dumps(view)) < 250_000
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in view["blocks"])
    assert "more" in view["blocks"][-1]["text"]["text"]


def test_declare_modal_fits_slack_view_limits():
    view = blocks.declare_modal(
        Settings(),
        title="t" * 500,
        scenarios=[(f"s{n}", "x" * 200) for n in range(150)],
    )
    assert len(view["blocks"]) <= 100
    assert len(view["title"]["text"]) <= 24
    options = next(b for b in view["blocks"] if b["block_id"] == "scenario")["element"][
        "options"
    ]
    assert len(options) <= 100


def test_card_shows_the_declared_time_once_in_one_date_token():
    # Issue 14: `Declared: 2026-11-25T12:00+00:00 (2026-11-25T12:00+00:00)`, the fallback twice.
    card = blocks.incident_card(incident("t"), Settings())
    declared = next(
        f["text"] for b in card for f in b.get("fields", []) if "Declared" in f["text"]
    )
    stamp = int(NOW.timestamp())
    assert declared == (
        f"*Declared*\n<!date^{stamp}^{{date_short_pretty}} {{time}} ({{ago}})"
        "|2026-11-25 12:00 UTC>"
    )


def test_step_card_names_the_input_it_needs_and_where_it_comes_from():
    from bot.models.runbooks import Runbook
    from bot.scenarios.schema import load_all
    from bot.services.runbooks.views import build_view
    from handlers.blocks import runbooks

    view = build_view(
        runbook=Runbook(
            id=1,
            incident=1,
            scenario="database-failure",
            created_by="UALICE",
            created_at=NOW,
        ),
        scenario=load_all()["database-failure"],
        incident=incident("Database down"),
        stored={},
        runs=[],
        approvals={},
        now=NOW,
        aws_enabled=True,
        dry_run=False,
    )
    _, card = runbooks.step_card(view, "check-chosen-snapshot")
    text = "\n".join(b.get("text", {}).get("text", "") for b in card)
    assert "Unknown template variable" not in text
    assert (
        ":pencil: Needs *Snapshot to restore* before it can be planned: press *Inputs…* to"
        " give it (run *Check backup availability* first and it is filled in for you)."
    ) in text
