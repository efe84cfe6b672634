"""The post-mortem draft as JSON, written to a file object as it is produced.

Carries everything the Markdown shows (same facts, same prompts, the Mermaid chart as text), with
times in ISO 8601 UTC and durations in seconds. Key events and the timeline are streamed as array
elements; each timeline row keeps its stored `data` JSON verbatim, so it can be re-hashed.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timedelta
from json.encoder import encode_basestring  # the C-accelerated escaper json.dumps uses
from typing import Any, TextIO

from bot.models.incidents import to_iso
from bot.services.postmortem.facts import DETAILS, Facts
from bot.services.postmortem.text import (
    LESSONS_PROMPTS,
    LONG_TERM,
    MEASURES,
    NOT_RECOVERED,
    PROMPTS,
    SHORT_TERM,
    mermaid,
    seconds,
)
from bot.storage.chain import ChainReport, ChainVerifier
from bot.storage.snapshot import Snapshot

FORMAT = "warroom-postmortem/2"
_FLUSH = 2000
# One timeline row; `data` is the stored canonical JSON, kept verbatim so the row can be re-hashed.
_ROW = (
    '%s{"seq": %d, "occurred_at": %s, "recorded_at": %s, "kind": %s, "actor": %s, "text": %s, "slack_ts": %s, '
    '"permalink": %s, "key_event": %s, "corrects": %s, "prev_hash": %s, "hash": %s, "data": %s}'
)


def _s(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_iso(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _dump(value: Any) -> str:
    return json.dumps(_plain(value), ensure_ascii=False, sort_keys=True, default=str)


def head(facts: Facts) -> dict[str, Any]:
    """Every bounded section of the draft, keyed as in the JSON document."""
    inc = facts.incident
    recovered = (
        {
            "recovered": {
                "messages": facts.recovered,
                "since": facts.recovered_since,
                "not_recovered": NOT_RECOVERED,
            }
        }
        if facts.recovered
        else {}
    )
    return {
        "format": FORMAT,
        "generated_at": facts.generated_at,
        "about": {
            "status": facts.review,
            "version": facts.version,
            "authors": facts.authors,
            "reviewers": facts.reviewers,
        },
        "incident": {**inc.model_dump(exclude={"card_ts"}), "key": inc.key},
        "impact": {"description": inc.description, "components": inc.components},
        "status_history": [asdict(c) for c in facts.statuses],
        "severity_history": [asdict(c) for c in facts.severities],
        "key_times": facts.key_times,
        "durations_s": {k: seconds(v) for k, v in facts.durations.items()},
        "recovery_objectives": [
            {
                **asdict(t),
                "rto_s": seconds(t.rto),
                "recovery_s": seconds(t.recovery),
                "rto_met": t.rto_met,
                "rpo_s": seconds(t.rpo),
                "data_loss_s": seconds(t.data_loss),
                "rpo_met": t.rpo_met,
                "restored_after_impact_start": t.restored_after(inc.impact_started_at),
            }
            for t in facts.targets
        ],
        "measures": MEASURES,
        "roles": inc.roles,
        "role_changes": [asdict(c) for c in facts.roles],
        "participants": facts.participants,
        "people": facts.people,
        "pages": [asdict(p) for p in facts.pages],
        "acknowledgements": [asdict(a) for a in facts.acks],
        "runbook_steps": [
            {
                **asdict(s),
                "approval_wait_s": seconds(s.approval_wait),
                "run_time_s": seconds(s.run_time),
            }
            for s in facts.steps
        ],
        "verification_checklist": facts.checklist,
        "mermaid": "\n".join(mermaid(facts)),
        "details": {
            name: {
                "heading": heading,
                "given": facts.details.get(name),
                "prompt": PROMPTS[name],
            }
            for name, heading in DETAILS.items()
        },
        "lessons_learned": {"prompts": list(LESSONS_PROMPTS)},
        "action_items": [f.model_dump(mode="json") for f in facts.followups],
        "plan_procedures": {
            "short_term": list(SHORT_TERM),
            "long_term": list(LONG_TERM),
        },
        **recovered,
    }


def write_json(out: TextIO, facts: Facts, snap: Snapshot) -> ChainReport:
    """Write the whole document; return the chain report of the timeline it streamed."""
    number = facts.incident.number
    out.write("{\n")
    for key, value in head(facts).items():
        out.write(f'"{key}": {_dump(value)},\n')
    out.write('"key_events": [')
    sep = "\n"
    for entry in snap.entries(number, key_events=True):
        out.write(
            sep
            + entry.model_dump_json(
                include={"seq", "occurred_at", "kind", "actor", "text", "permalink"}
            )
        )
        sep = ",\n"
    out.write('\n],\n"timeline": [')
    verifier, buffer, sep = ChainVerifier(number), list[str](), "\n"
    for v in snap.timeline_values(number):  # TIMELINE_COLUMNS order
        verifier.feed_values(v)
        buffer.append(
            _ROW
            % (
                sep,
                v[2],
                _s(v[7]),
                _s(v[8]),
                _s(v[3]),
                _s(v[4]),
                _s(v[5]),
                _s(v[9]),
                _s(v[10]),
                "true" if v[11] else "false",
                "null" if v[12] is None else int(v[12]),
                _s(v[13]),
                _s(v[14]),
                v[6] or "{}",
            )
        )
        sep = ",\n"
        if len(buffer) >= _FLUSH:
            out.writelines(buffer)
            buffer.clear()
    out.writelines(buffer)
    report = verifier.report()
    out.write(f'\n],\n"chain": {_dump(report.as_dict())}\n}}\n')
    return report
