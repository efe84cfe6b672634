"""Prometheus metrics: what an on-call engineer alerts on, served at `/metrics`.

Counters and histograms are updated where things happen (the journal middleware, the gateways);
gauges that describe stored state (inbox lag, outbox depth, dead letters, step runs by state) are
read from SQLite at scrape time, so they are right after a restart. Owns metric names and the
closed sets their labels come from: a label taken from a request (its `type`) is mapped into
`REQUEST_KINDS` here, so a signed body cannot create a new series.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

REGISTRY = CollectorRegistry()

# The kinds of request Slack sends the bot; anything else is counted as "other" (issue 12).
REQUEST_KINDS = frozenset(
    {
        "command",
        "event_callback",
        "block_actions",
        "block_suggestion",
        "view_submission",
        "view_closed",
        "shortcut",
        "message_action",
        "other",
    }
)


def request_kind(kind: str) -> str:
    """The metric label of a request kind: itself when Slack sends it, else "other"."""
    return kind if kind in REQUEST_KINDS else "other"


ACK_SECONDS = Histogram(
    "warroom_ack_seconds",
    "Time from a verified Slack request to its acknowledgement.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 3.0),
    registry=REGISTRY,
)
DUPLICATES = Counter(
    "warroom_duplicate_deliveries_total",
    "Slack retries and replays recognised and not run again.",
    registry=REGISTRY,
)
PAGERDUTY_CALLS = Counter(
    "warroom_pagerduty_calls_total",
    "PagerDuty API calls by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
AWS_CALLS = Counter(
    "warroom_aws_calls_total",
    "AWS API calls by service and outcome.",
    ["service", "outcome"],
    registry=REGISTRY,
)
INBOX_LAG = Gauge(
    "warroom_inbox_lag_seconds",
    "Age of the oldest journaled request not yet finished.",
    registry=REGISTRY,
)
OUTBOX_DEPTH = Gauge(
    "warroom_outbox_depth",
    "Slack calls waiting to be sent, per channel.",
    ["channel"],
    registry=REGISTRY,
)
OUTBOX_DEAD = Gauge(
    "warroom_outbox_dead_letters",
    "Slack calls that failed for good, per channel.",
    ["channel"],
    registry=REGISTRY,
)
STEP_RUNS = Gauge(
    "warroom_step_runs", "Runbook step runs by state.", ["state"], registry=REGISTRY
)
EVENT_LOOP_LAG = Gauge(
    "warroom_event_loop_lag_seconds",
    "How late the event loop's heartbeat is.",
    registry=REGISTRY,
)

BACKUP_AGE = Gauge(
    "warroom_backup_age_seconds",
    "Seconds since the last backup that was checked and shipped (since start, before the first).",
    registry=REGISTRY,
)
BACKUP_INTERVAL = Gauge(
    "warroom_backup_interval_seconds",
    "How often backups are due now (0: backups are off).",
    registry=REGISTRY,
)
BACKUPS = Counter(
    "warroom_backups_total",
    "Scheduled backups by outcome.",
    ["outcome"],
    registry=REGISTRY,
)

Refresh = Callable[[], Awaitable[None]]


def observe_ack(kind: str, seconds: float) -> None:
    """Record how long a request of `kind` took to be acknowledged, under its closed-set label."""
    ACK_SECONDS.labels(request_kind(kind)).observe(seconds)


async def render(refresh: Refresh) -> tuple[bytes, str]:
    """Refresh the stored-state gauges, then return the exposition text and its content type."""
    await refresh()
    return generate_latest(REGISTRY), "text/plain; version=0.0.4; charset=utf-8"


def set_labelled(gauge: Gauge, values: dict[str, Any]) -> None:
    """Replace every labelled child of `gauge` with `values` (so drained channels drop to nothing)."""
    gauge.clear()
    for label, value in values.items():
        gauge.labels(label).set(value)
