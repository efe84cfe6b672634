"""Incident statistics: mean time to acknowledge and to resolve, and RTO attainment, by severity and
by scenario, over the incidents declared since a date (drills excluded).

Owns the definitions (the same as the post-mortem's: acknowledge from declaration, resolve from
impact start or declaration, RTO met when mitigation came within the component's target) and their
plain-text table with its legend. Reads a read-only snapshot; one incident at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from bot.config import Settings
from bot.models.incidents import Incident, from_iso
from bot.services.postmortem.facts import ACK_KINDS
from bot.services.postmortem.text import span
from bot.storage.snapshot import Snapshot


@dataclass
class Group:
    name: str
    incidents: int = 0
    resolved: int = 0
    acknowledge: list[timedelta] = field(default_factory=list)
    resolve: list[timedelta] = field(default_factory=list)
    rto_met: int = 0
    rto_measured: int = 0

    @staticmethod
    def _mean(values: list[timedelta]) -> timedelta | None:
        return sum(values, timedelta(0)) / len(values) if values else None

    @property
    def mean_acknowledge(self) -> timedelta | None:
        return self._mean(self.acknowledge)

    @property
    def mean_resolve(self) -> timedelta | None:
        return self._mean(self.resolve)

    @property
    def rto_attainment(self) -> float | None:
        return self.rto_met / self.rto_measured if self.rto_measured else None


@dataclass
class Stats:
    since: datetime | None
    total: int = 0
    by_severity: dict[str, Group] = field(default_factory=dict)
    by_scenario: dict[str, Group] = field(default_factory=dict)


def compute_stats(
    *, database: Path, settings: Settings, since: datetime | None = None
) -> Stats:
    """Aggregate every non-drill incident declared at or after `since` (blocking)."""
    stats = Stats(since)
    with Snapshot(database) as snap:
        for incident in list(snap.incidents(since=since)):
            if incident.drill:
                continue
            acked = incident.acknowledged_at or next(
                (
                    from_iso(r["occurred_at"])
                    for r in snap.rows(incident.number, kinds=ACK_KINDS)
                ),
                None,
            )
            stats.total += 1
            for groups, key in (
                (stats.by_severity, incident.severity),
                (stats.by_scenario, incident.scenario or "none"),
            ):
                _add(groups.setdefault(key, Group(key)), incident, acked, settings)
    return stats


def _add(
    group: Group, incident: Incident, acked: datetime | None, settings: Settings
) -> None:
    start = incident.impact_started_at or incident.declared_at
    group.incidents += 1
    if acked:
        group.acknowledge.append(acked - incident.declared_at)
    if incident.resolved_at:
        group.resolved += 1
        group.resolve.append(incident.resolved_at - start)
    if incident.mitigated_at is None:
        return
    for component in incident.components:
        target = settings.targets.get(component)
        if target is not None:
            group.rto_measured += 1
            group.rto_met += int(incident.mitigated_at - start <= target.rto)


LEGEND = (
    "Mean to acknowledge / resolve: the mean over the incidents that have that time, how many"
    " in brackets (— when none has it yet).",
    "RTO met: affected components mitigated within their RTO target, of those with a target"
    " (mitigated incidents only), and the share.",
)


def _mean(mean: timedelta | None, count: int) -> str:
    return f"{span(mean)} ({count})" if count else "—"


def _rows(groups: dict[str, Group]) -> list[tuple[str, ...]]:
    return [
        (
            g.name,
            str(g.incidents),
            str(g.resolved),
            _mean(g.mean_acknowledge, len(g.acknowledge)),
            _mean(g.mean_resolve, len(g.resolve)),
            f"{g.rto_met}/{g.rto_measured} ({g.rto_attainment:.0%})"
            if g.rto_attainment is not None
            else "—",
        )
        for g in sorted(groups.values(), key=lambda g: g.name)
    ]


def stats_text(stats: Stats) -> str:
    """Two fixed-width tables (severity, scenario) and the legend that says how to read them."""
    since = f" since {stats.since:%Y-%m-%d}" if stats.since else ""
    lines = [f"{stats.total} incident(s){since}, drills excluded."]
    if not stats.total:
        return lines[0]
    header = (
        "",
        "Incidents",
        "Resolved",
        "Mean to acknowledge",
        "Mean to resolve",
        "RTO met",
    )
    for title, groups in (
        ("By severity", stats.by_severity),
        ("By scenario", stats.by_scenario),
    ):
        table = [(title, *header[1:]), *_rows(groups)]
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        lines.append("")
        lines += [
            "  ".join(
                cell.ljust(w) for cell, w in zip(row, widths, strict=True)
            ).rstrip()
            for row in table
        ]
    return "\n".join([*lines, "", *LEGEND])
