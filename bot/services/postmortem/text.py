"""Shared wording of the post-mortem: time and duration formats, escaping, prompts, the Mermaid chart.

Owns the words both writers (Markdown and JSON) use, so the JSON carries what the Markdown shows:
the prompts left for people (root cause, lessons learned, the plan's short- and long-term action
items) and the Gantt chart of phases and steps. Pure functions; no I/O.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from bot.services.postmortem.facts import Facts

# What Slack's history cannot give back after a restart or a restore.
NOT_RECOVERED = (
    "Not recovered: edits and deletions made meanwhile, replies in threads, and what the bot itself"
    " did after its last backup (approvals, AWS calls)."
)
ROOT_CAUSE_PROMPT = (
    "What made this happen, and why did our safeguards not stop it? Ask 'why?' until you reach a"
    " cause you can change. Link the evidence (timeline rows, AWS request ids, graphs)."
)
# What the author is asked for each detail not given yet (`/incident postmortem edit` asks them).
PROMPTS = {
    "trigger": "how was it noticed: an alert, a customer, someone on the team?",
    "impact": "who was affected and how much: users, failed requests, revenue, error budget spent. Measure it; do not guess.",
    "resolution": "what was done to end it, in order, and what finally fixed it.",
    "root_cause": ROOT_CAUSE_PROMPT,
    "contributing_factors": "what made it worse or longer: missing alerts, unclear runbook steps, slow approvals, luck.",
    "review_meeting": "the date the team reviews this post-mortem.",
}
EDIT_HINT = "`/incident postmortem edit` (or the button under the draft) fills these in; the draft is then rebuilt."
CHECKLIST_HINT = (
    "not recorded: mark each done in the runbook as you check it (Mark a step done… under the"
    " runbook's overview, or Mark done on its card), with what you saw as the note"
)
RESTORED_AFTER_IMPACT = (
    "The restore point is after impact started: the restored data may still hold what went wrong."
    " Check it before trusting the data-loss figure."
)
LESSONS_PROMPTS = (
    "What went well in detection, response and recovery?",
    "What went badly or slower than it should have (see the approval waits and step run times)?",
    "Where did we get lucky?",
    "Did the runbook match reality? Which step was missing, wrong or unclear?",
)
# The plan's "Post-Incident Procedures": suggestions to turn into follow-ups.
SHORT_TERM = (
    "Root cause analysis with the technical team",
    "Update monitoring to catch similar issues",
    "Review response effectiveness",
    "Create action items for improvements",
)
LONG_TERM = (
    "Publish the post-mortem with lessons learned",
    "Implement preventive measures",
    "Update runbooks based on experience",
    "Conduct a team retrospective",
    "Test recovery procedures",
)
MEASURES = (
    "Recovery time runs from impact start (or declaration, when impact start is unknown) to"
    " mitigation (the first move to monitoring). Data loss is the window between the restore point"
    " chosen in a restore step and impact start; it is never negative. Time to acknowledge runs from"
    " declaration to the first acknowledgement. Detected is when the alert the incident was declared"
    " from fired (none: declared by hand). Time to detect runs from impact start to it; time to"
    " declare from it (declared by hand: from impact start) to the declaration."
)

MD_TABLE = str.maketrans(
    {"|": "\\|", "\n": "<br>", "\r": "", "<": "&lt;", "&": "&amp;", "`": "'"}
)
_CHART = str.maketrans({":": " ", ";": " ", "#": " ", "\n": " ", "%": " "})


def when(moment: datetime | None, zone: tzinfo = UTC) -> str:
    """`2026-01-05 10:02:03` in `zone` (UTC unless WARROOM_TIMEZONE says), or an em dash."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if moment else "—"


def zone_name(zone: tzinfo) -> str:
    """How a column heading names the draft's time zone: `UTC`, `Europe/Berlin`."""
    return str(getattr(zone, "key", None) or zone.tzname(None) or "UTC")


def span(delta: timedelta | None) -> str:
    """`1h 05m 00s`, `4m 30s`, or an em dash."""
    if delta is None:
        return "—"
    seconds = int(delta.total_seconds())
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}h {minutes:02d}m {secs:02d}s"
    return f"{sign}{minutes}m {secs:02d}s" if minutes else f"{sign}{secs}s"


def seconds(delta: timedelta | None) -> float | None:
    return None if delta is None else delta.total_seconds()


def md(text: object) -> str:
    """Text safe inside a Markdown table cell (no raw HTML, pipes or line breaks)."""
    return str(text if text is not None else "").translate(MD_TABLE)


def verdict(met: bool | None) -> str:
    return "—" if met is None else ("met" if met else "missed")


def mermaid(facts: Facts) -> list[str]:
    """A Mermaid Gantt chart of the incident's phases, steps and milestones."""
    inc = facts.incident
    lines = [
        "gantt",
        f"    title {_label(inc.key + ' ' + inc.title)}",
        "    dateFormat YYYY-MM-DD HH:mm:ss",
        "    axisFormat %H:%M",
        "    section Phases",
    ]
    end = inc.resolved_at or facts.generated_at
    if inc.impact_started_at and inc.impact_started_at < inc.declared_at:
        lines.append(
            f"    Impact before declaration :crit, {when(inc.impact_started_at, facts.zone)}, {when(inc.declared_at, facts.zone)}"
        )
    phases = [c for c in facts.statuses if c.after != "resolved"]
    for i, change in enumerate(phases):
        until = phases[i + 1].at if i + 1 < len(phases) else end
        lines.append(
            f"    {_label(change.after.capitalize())} :{when(change.at, facts.zone)}, {when(until, facts.zone)}"
        )
    if facts.steps:
        lines.append("    section Steps")
    for step in facts.steps:
        start = step.requested_at or step.started_at
        if start is None:
            continue
        tag = {
            "succeeded": "done, ",
            "done": "done, ",
            "failed": "crit, ",
            "outcome-unknown": "crit, ",
        }.get(step.outcome, "")
        lines.append(
            f"    {_label(step.title or step.step)} ({_label(step.outcome or 'open')}) :{tag}"
            f"{when(start, facts.zone)}, {when(step.finished_at or end, facts.zone)}"
        )
    lines.append("    section Milestones")
    for name, moment in facts.key_times.items():
        if moment is not None:
            lines.append(
                f"    {name.replace('_', ' ').capitalize()} :milestone, {when(moment, facts.zone)}, 0m"
            )
    return lines


def _label(text: str) -> str:
    return " ".join(text.translate(_CHART).split())[:60] or "-"
