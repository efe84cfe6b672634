"""Paging Block Kit builders: Slack's limits, escaping, and the values buttons carry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.config import Settings
from bot.gateways.pagerduty.pager import OnCall
from bot.models.incidents import Incident, Status
from handlers.blocks import paging as pb
from handlers.ids import Action, Callback

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def incident(**changes: object) -> Incident:
    base = Incident(
        number=7,
        title="DB <!channel> down",
        severity="SEV1",
        commander="UALICE",
        channel_name="inc-7-db",
        declared_by="UALICE",
        declared_at=NOW,
    )
    return base.model_copy(update=changes)


def test_pages_blocks_oncall_text_is_cut_to_the_section_limit_and_escapes_names():
    entries = [
        OnCall(
            name=f"<Person {i}>",
            email=f"p{i}@example.com",
            user_id=f"P{i}",
            escalation_level=1,
            policy_id="PEP",
            policy_name="Ops & Co",
            schedule_name=None,
            start=None,
            end=NOW,
        )
        for i in range(200)
    ]
    text = pb.oncall_text("INC-7", entries, {"p1@example.com": "UBOB"})
    assert len(text) <= pb.SECTION_LIMIT
    assert "<@UBOB>" in text
    assert "&lt;Person 0&gt;" in text
    assert "Ops &amp; Co" in text
    assert "Nobody is on call" in pb.oncall_text("INC-7", [], {})


def test_pages_blocks_reminder_buttons_carry_a_model_not_a_split_string():
    blocks = pb.reminder_blocks(incident(), minutes=15, overdue=False)
    actions = next(b for b in blocks if b["type"] == "actions")
    ids = [e["action_id"] for e in actions["elements"]]
    assert ids == [Action.REMINDER_UPDATE, Action.REMINDER_SNOOZE]
    button = pb.ReminderButton.model_validate_json(actions["elements"][1]["value"])
    assert (button.incident, button.minutes) == (7, pb.SNOOZE_MINUTES)


def test_pages_blocks_status_update_follows_the_plan_template_and_escapes_text():
    text = pb.status_update_text(
        incident(),
        Settings(),
        status=Status.IDENTIFIED,
        message="<!here> fixed soon",
        next_update=NOW + timedelta(minutes=15),
    )
    assert "Service: BodyScript Production" in text
    assert "Status: Identified" in text
    assert "Impact: High" in text
    assert "Next Update: 2026-11-25 10:15 UTC" in text
    assert "&lt;!here&gt;" in text
    assert "<!here>" not in text


def test_pages_blocks_update_modal_preselects_the_current_status():
    view = pb.update_modal(incident(status=Status.MONITORING), now=NOW, minutes=15)
    assert view["callback_id"] == Callback.UPDATE
    select = view["blocks"][1]["element"]
    assert select["initial_option"]["value"] == "monitoring"
    assert "resolved" not in [o["value"] for o in select["options"]]
    assert len(view["title"]["text"]) <= 24
