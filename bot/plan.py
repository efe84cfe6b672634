"""The disaster-recovery plan's fixed content: components with RTO/RPO targets, templates, contacts.

This is BodyScript's plan (`docs`: the seed plan) turned into data. Settings may override the targets;
scenarios name components by the ids below. Nothing here talks to Slack, AWS or PagerDuty.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict


class Component(BaseModel):
    """One row of the plan's RTO/RPO table."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    rto: timedelta
    rpo: timedelta
    priority: str


COMPONENTS: tuple[Component, ...] = (
    Component(
        id="frontend",
        name="Frontend (Static)",
        rto=timedelta(minutes=5),
        rpo=timedelta(hours=1),
        priority="Critical",
    ),
    Component(
        id="api",
        name="API Service",
        rto=timedelta(minutes=15),
        rpo=timedelta(minutes=5),
        priority="Critical",
    ),
    Component(
        id="database",
        name="Database",
        rto=timedelta(minutes=30),
        rpo=timedelta(minutes=15),
        priority="Critical",
    ),
    Component(
        id="file-storage",
        name="File Storage",
        rto=timedelta(hours=1),
        rpo=timedelta(hours=1),
        priority="High",
    ),
    Component(
        id="processing-queue",
        name="Processing Queue",
        rto=timedelta(hours=2),
        rpo=timedelta(minutes=30),
        priority="Medium",
    ),
    Component(
        id="analytics",
        name="Analytics",
        rto=timedelta(hours=24),
        rpo=timedelta(hours=24),
        priority="Low",
    ),
)

COMPONENT_IDS: frozenset[str] = frozenset(c.id for c in COMPONENTS)

SERVICE_NAME = "BodyScript Production"

INITIAL_NOTIFICATION = """\
:rotating_light: INCIDENT ALERT :rotating_light:

Service: {service}
Status: {status}
Impact: {impact}
Start Time: {start_time}
Description: {description}

We are investigating reports of {issue}. Updates will be posted every {update_minutes} minutes.

Next Update: {next_update}
Incident Commander: {commander}"""

RESOLUTION_NOTIFICATION = """\
:white_check_mark: INCIDENT RESOLVED :white_check_mark:

Service: {service}
Status: Resolved
Duration: {duration}
Root Cause: {root_cause}
Summary: {summary}

All services have been restored to normal operation. A full post-mortem will be published within 48 hours.

We apologize for any inconvenience caused."""

# The plan's Emergency Contacts table: the sample for the fallback-contacts setting.
FALLBACK_CONTACTS: tuple[str, ...] = (
    "DevOps Lead: John Doe (+1-555-0101), Jane Smith (+1-555-0102), escalation CTO (+1-555-0100)",
    "Security Lead: Bob Wilson (+1-555-0201), Alice Brown (+1-555-0202), escalation CISO (+1-555-0200)",
    "Infrastructure: Mike Davis (+1-555-0301), Sarah Lee (+1-555-0302), escalation VP Eng (+1-555-0300)",
)

WAR_ROOM = "Zoom room ID 123-456-789"

# The plan's "Monitoring and Alerting" alerts: an alert by that name (its title or service, or a
# title containing it) opens the declare form with this scenario and severity (critical alerts are
# SEV1; warnings SEV2-SEV3; information alerts are not listed: they are no incident).
ALERTS: dict[str, dict[str, str]] = {
    "Service completely down": {"scenario": "complete-site-outage", "severity": "SEV1"},
    "Database connectivity lost": {"scenario": "database-failure", "severity": "SEV1"},
    "Security breach detected": {"scenario": "security-incident", "severity": "SEV1"},
    "Data corruption detected": {"scenario": "data-corruption", "severity": "SEV1"},
    "High error rate": {"severity": "SEV2"},
    "Slow response times": {"severity": "SEV3"},
    "Resource utilization high": {"severity": "SEV3"},
    "Backup failures": {"severity": "SEV3"},
}
