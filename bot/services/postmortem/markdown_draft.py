"""The post-mortem draft as Markdown, written to a file object as it is produced.

Owns the Markdown layout. The bounded facts come from `postmortem_facts`; key events and the full
timeline are streamed from the snapshot straight to the output (and the timeline through the chain
verifier), so neither the document nor the timeline is ever held in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TextIO

from bot.models.followups import FollowUpKind
from bot.models.incidents import from_iso
from bot.services.postmortem.facts import DETAILS, SLOW_DETECTION, TRIGGERS, Facts
from bot.services.postmortem.text import (
    CHECKLIST_HINT,
    EDIT_HINT,
    LESSONS_PROMPTS,
    LONG_TERM,
    MD_TABLE,
    MEASURES,
    NOT_RECOVERED,
    PROMPTS,
    RESTORED_AFTER_IMPACT,
    SHORT_TERM,
    md,
    mermaid,
    span,
    verdict,
    when,
    zone_name,
)
from bot.storage.chain import ChainReport, ChainVerifier
from bot.storage.snapshot import Snapshot

_FLUSH = 2000


def _table(
    out: TextIO, header: Iterable[str], rows: Iterable[Iterable[object]], empty: str
) -> None:
    head = list(header)
    lines = [f"| {' | '.join(md(c) for c in row)} |\n" for row in rows]
    if not lines:
        out.write(f"_{empty}_\n\n")
        return
    out.write(f"| {' | '.join(head)} |\n|{'---|' * len(head)}\n")
    out.writelines(lines)
    out.write("\n")


def write_markdown(out: TextIO, facts: Facts, snap: Snapshot) -> ChainReport:
    """Write the whole draft; return the chain report of the appendix it streamed."""
    inc = facts.incident
    drill = "DRILL " if inc.drill else ""
    out.write(f"# {drill}Post-mortem draft: {inc.key} {md(inc.title)}\n\n")
    out.write(
        f"> Draft written by warroom at {when(facts.generated_at, facts.zone)} {zone_name(facts.zone)} from the incident's timeline "
        f"({facts.rows} entries, head hash `{facts.head_hash or '-'}`). Sections marked "
        "*To write* are for people.\n\n"
    )
    _about(out, facts)
    _summary(out, facts)
    _detection(out, facts)
    _times(out, facts)
    _people(out, facts)
    _steps(out, facts)
    if facts.recovered:
        since = when(facts.recovered_since, facts.zone)
        out.write(
            f"## Recovered from Slack\n\n{facts.recovered} channel message(s) from {since} {zone_name(facts.zone)} on"
            " were said while this record was not being kept (the bot was down, or its database"
            " was restored from a backup) and were read back from Slack's history; they are marked"
            f" `recovered` in the timeline. {NOT_RECOVERED} For those, run `aws cloudtrail"
            f" lookup-events --start-time '{since}'` in every region the runbooks act in, and press"
            " Verify on any step whose outcome is not known.\n\n"
        )
    out.write("## Key events\n\n")
    count = 0
    for entry in snap.entries(inc.number, key_events=True):
        count += 1
        link = f" ([message]({entry.permalink}))" if entry.permalink else ""
        who = f" {md(facts.who(entry.actor))}" if entry.actor else ""
        out.write(
            f"- `{when(entry.occurred_at, facts.zone)}` **{entry.kind}**{who}: {md(entry.text) or '(marked)'}{link}\n"
        )
    out.write("\n" if count else "_No key events (pins or :pushpin: reactions)._\n\n")
    out.write(
        "## Timeline chart\n\n```mermaid\n" + "\n".join(mermaid(facts)) + "\n```\n\n"
    )
    _prompts(out, facts)
    return _appendix(out, facts, snap)


def _summary(out: TextIO, facts: Facts) -> None:
    inc = facts.incident
    out.write("## Summary\n\n")
    _table(
        out,
        ("Field", "Value"),
        [
            ("Incident", inc.key),
            ("Title", inc.title),
            ("Severity", inc.severity),
            ("Status", inc.status.value),
            ("Scenario", inc.scenario or "—"),
            ("Commander", facts.who(inc.commander)),
            ("Declared by", facts.who(inc.declared_by)),
            ("Channel", f"#{inc.channel_name}"),
            ("Drill", "yes" if inc.drill else "no"),
        ],
        "",
    )
    out.write(
        f"{md(inc.summary) or '*To write:* one paragraph: what happened, who was affected, how it ended.'}\n\n"
    )
    out.write("### Impact\n\n")
    _detail(out, facts, "impact")
    if inc.description:
        out.write(f"Described at declaration: {md(inc.description)}\n\n")
    names = {t.component: t.name for t in facts.targets}
    parts = [f"{names.get(c, c)} (`{c}`)" for c in inc.components]
    out.write(f"Affected components: {', '.join(parts) if parts else '—'}\n\n")
    out.write("### Status and severity history\n\n")
    changes = sorted(facts.statuses + facts.severities, key=lambda c: c.at)
    _table(
        out,
        (f"Time ({zone_name(facts.zone)})", "Change", "By"),
        [
            (
                when(c.at, facts.zone),
                f"{c.what}: {c.before or '—'} → {c.after}",
                facts.who(c.actor),
            )
            for c in changes
        ],
        "No changes recorded.",
    )


def _times(out: TextIO, facts: Facts) -> None:
    out.write("## Key times and durations\n\n")
    _table(
        out,
        ("Milestone", f"Time ({zone_name(facts.zone)})"),
        [
            (k.replace("_", " ").capitalize(), when(v, facts.zone))
            for k, v in facts.key_times.items()
        ],
        "",
    )
    _table(
        out,
        ("Duration", "Value"),
        [
            (k.replace("_", " ").capitalize(), span(v))
            for k, v in facts.durations.items()
        ],
        "",
    )
    out.write("### Recovery objectives (RTO / RPO)\n\n")
    _table(
        out,
        (
            "Component",
            "RTO target",
            "Recovery time",
            "RTO",
            "RPO target",
            "Data loss",
            "RPO",
            "Restore point",
        ),
        [
            (
                f"{t.name} ({t.component})",
                span(t.rto),
                span(t.recovery),
                verdict(t.rto_met),
                span(t.rpo),
                span(t.data_loss) if t.data_loss is not None else "no restore",
                "check"
                if t.restored_after(facts.incident.impact_started_at)
                else verdict(t.rpo_met),
                f"{when(t.restore_point, facts.zone)} ({t.restore_step})"
                if t.restore_point
                else "—",
            )
            for t in facts.targets
        ],
        "No affected components with targets were named.",
    )
    start = facts.incident.impact_started_at
    for t in facts.targets:
        if t.restored_after(start):
            out.write(
                f"> **Warning ({md(t.name)}):** restored to {when(t.restore_point, facts.zone)},"
                f" impact started {when(start, facts.zone)}. {RESTORED_AFTER_IMPACT}\n\n"
            )
    out.write(f"{MEASURES}\n\n")


def _people(out: TextIO, facts: Facts) -> None:
    out.write("## Participants and roles\n\n")
    _table(
        out,
        ("Role", "Person"),
        [
            (role, facts.who(user))
            for role, user in sorted(facts.incident.roles.items())
        ],
        "No roles assigned.",
    )
    _table(
        out,
        (f"Role change ({zone_name(facts.zone)})", "Role", "Person", "By"),
        [
            (when(c.at, facts.zone), c.what, facts.who(c.after), facts.who(c.actor))
            for c in facts.roles
        ],
        "No role changes.",
    )
    _table(
        out,
        (
            "Participant",
            "Slack id",
            "Timeline entries",
            f"First ({zone_name(facts.zone)})",
            f"Last ({zone_name(facts.zone)})",
        ),
        [
            (
                facts.who(p["actor"]),
                p["actor"],
                p["entries"],
                when(from_iso(p["first"]), facts.zone),
                when(from_iso(p["last"]), facts.zone),
            )
            for p in facts.participants
        ],
        "No participants recorded.",
    )
    out.write("## Pages and acknowledgements\n\n")
    _table(
        out,
        (
            f"Time ({zone_name(facts.zone)})",
            "Page",
            "Target",
            "Mode",
            "Delivered",
            "By",
            "Detail",
        ),
        [
            (
                when(p.at, facts.zone),
                p.kind,
                p.target,
                p.mode,
                "yes" if p.delivered else "no",
                facts.who(p.actor),
                p.text,
            )
            for p in facts.pages
        ],
        "No pages recorded.",
    )
    _table(
        out,
        (f"Time ({zone_name(facts.zone)})", "Acknowledged by", "PagerDuty incident"),
        [(when(a.at, facts.zone), a.by, a.pd_incident) for a in facts.acks],
        "No acknowledgements recorded.",
    )


def _steps(out: TextIO, facts: Facts) -> None:
    out.write("## Runbook steps\n\n")
    _table(
        out,
        (
            "Step",
            "Requested by",
            "Approvers",
            "Operation",
            "Parameters",
            "Outcome",
            "AWS request id",
            f"Requested ({zone_name(facts.zone)})",
            "Approval wait",
            "Run time",
        ),
        [
            (
                f"{s.title} ({s.step})" + (" [dry run]" if s.dry_run else ""),
                facts.who(s.requester),
                ", ".join(map(facts.who, s.approvers))
                + (
                    f" (rejected: {', '.join(map(facts.who, s.rejected_by))})"
                    if s.rejected_by
                    else ""
                ),
                f"{s.operation} {s.region}".strip(),
                json.dumps(s.params, sort_keys=True, default=str) if s.params else "",
                f"{s.outcome}: {s.summary}" if s.summary else s.outcome,
                s.request_id or "",
                when(s.requested_at, facts.zone),
                span(s.approval_wait),
                span(s.run_time),
            )
            for s in facts.steps
        ],
        "No runbook steps were run.",
    )
    out.write("## Verification checklist\n\n")
    _table(
        out,
        ("Phase", "Check", "Result", "By", "Note"),
        [
            (
                c["phase"],
                c["title"],
                c["result"],
                facts.who(c["by"]),
                c["note"],
            )
            for c in facts.checklist
        ],
        "No checklist.",
    )
    unrecorded = sum(1 for c in facts.checklist if c["result"] == "not recorded")
    if unrecorded:
        out.write(f"{unrecorded} check(s) {CHECKLIST_HINT}.\n\n")


def _detail(out: TextIO, facts: Facts, name: str) -> None:
    """A detail people give, or what to write there."""
    value = facts.details.get(name)
    out.write(f"{md(value)}\n\n" if value else f"*To write:* {PROMPTS[name]}\n\n")


def _about(out: TextIO, facts: Facts) -> None:
    missing = [DETAILS[k] for k in DETAILS if not facts.details.get(k)]
    _table(
        out,
        ("About this post-mortem", ""),
        [
            ("Status", facts.review),
            ("Version", facts.version),
            ("Authors", ", ".join(map(facts.who, facts.authors)) or "—"),
            (
                "Reviewers",
                ", ".join(map(facts.who, facts.reviewers))
                or "*To choose:* `/incident postmortem review @a @b`",
            ),
            ("Review meeting", facts.details.get("review_meeting") or "*To set*"),
            ("Still to write", ", ".join(missing) or "nothing"),
        ],
        "",
    )
    if missing:
        out.write(f"{EDIT_HINT}\n\n")


def _detection(out: TextIO, facts: Facts) -> None:
    out.write("## Trigger and detection\n\n")
    trigger = facts.details.get("trigger")
    if trigger:
        out.write(f"Noticed through {md(TRIGGERS.get(trigger, trigger))}.\n\n")
    else:
        out.write(f"*To write:* {PROMPTS['trigger']}\n\n")
    inc, zone = facts.incident, facts.zone
    detect, declare = (
        facts.durations["time_to_detect"],
        facts.durations["time_to_declare"],
    )
    _table(
        out,
        ("From impact start", f"Time ({zone_name(zone)})", "Delay"),
        [
            ("Impact started", when(inc.impact_started_at, zone), ""),
            ("Detected (alert fired)", when(facts.detected_at, zone), span(detect)),
            ("Declared", when(inc.declared_at, zone), span(declare)),
        ],
        "",
    )
    if inc.impact_started_at is None:
        out.write(
            "*To write:* when impact started (it was not given when declaring): every delay is measured from it.\n\n"
        )
    for label, delay in (("detection", detect), ("declaration", declare)):
        if delay is not None and delay > SLOW_DETECTION:
            out.write(
                f"> **Slow {label}:** {span(delay)} (more than {span(SLOW_DETECTION)}). Worth a"
                " `detect:` follow-up.\n\n"
            )


def _prompts(out: TextIO, facts: Facts) -> None:
    out.write("## Resolution\n\n")
    _detail(out, facts, "resolution")
    out.write("## Root cause\n\n")
    _detail(out, facts, "root_cause")
    out.write("### Contributing factors\n\n")
    _detail(out, facts, "contributing_factors")
    out.write("## Lessons learned\n\n")
    out.writelines(f"- *To write:* {p}\n" for p in LESSONS_PROMPTS)
    out.write("\n## Action items\n\n")
    order = {k: i for i, k in enumerate(FollowUpKind)}
    items = sorted(
        facts.followups, key=lambda f: (order.get(f.kind, 99) if f.kind else 99, f.id)
    )
    _table(
        out,
        ("#", "Type", "Action", "Owner", "Due", "Priority", "Tracker", "State"),
        [
            (
                f.id,
                f.kind.value if f.kind else "to choose",
                f.text,
                facts.who(f.owner) if f.owner else "to assign",
                f.due.isoformat() if f.due else "to set",
                f.priority.value,
                f"{f.tracker} {f.tracker_key}: {f.tracker_url}"
                if f.tracker_url
                else "not filed",
                f.state.value,
            )
            for f in items
        ],
        "To write: add each action with `/incident followup [prevent:|mitigate:|detect:|process:]"
        " <text> @owner YYYY-MM-DD` (or the Add follow-up button under the draft); it is listed"
        " here with its tracker's state.",
    )
    out.write(
        "The plan's post-incident procedures, to turn into follow-ups where they apply:\n\n"
    )
    out.writelines(f"- Within 24 hours: {item}\n" for item in SHORT_TERM)
    out.writelines(f"- Within 7 days: {item}\n" for item in LONG_TERM)
    out.write("\n")


def _appendix(out: TextIO, facts: Facts, snap: Snapshot) -> ChainReport:
    number = facts.incident.number
    out.write(
        "## Appendix: full timeline\n\n| # | Occurred (UTC) | Recorded (UTC) | Kind | Actor | Text | Hash |\n"
        "|---|---|---|---|---|---|---|\n"
    )
    verifier, buffer = ChainVerifier(number), list[str]()
    feed, add, escape = (
        verifier.feed_values,
        buffer.append,
        MD_TABLE,
    )  # hot loop: 500,000 rows in seconds
    for v in snap.timeline_values(number):  # TIMELINE_COLUMNS order
        feed(v)
        actor, text = (
            v[4].translate(escape) if v[4] else "",
            v[5].translate(escape) if v[5] else "",
        )
        mark = " ★" if v[11] else ""
        fix = f" (corrects #{v[12]})" if v[12] else ""
        add(
            f"| {v[2]} | {v[7][:10]} {v[7][11:19]} | {v[8][:10]} {v[8][11:19]} | {v[3]}{mark} | {actor} | "
            f"{text}{fix} | `{v[14][:12]}` |\n"
        )
        if len(buffer) >= _FLUSH:
            out.writelines(buffer)
            buffer.clear()
    out.writelines(buffer)
    report = verifier.report()
    state = "verified" if report.ok else f"BROKEN: {report.describe()}"
    out.write(
        f"\nChain: {report.rows} rows, head hash `{report.head_hash}` ({state}).\n"
    )
    return report
