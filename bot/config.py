"""Settings: the one place that reads the environment (pydantic-settings).

Owns every setting's name, default, description and validation, and the per-command requirements
(only `warroom run` needs Slack tokens). It must never log or echo a secret: tokens are `SecretStr`,
and validation problems are reported by field and reason, never with the value given.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import string
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError
from bot.plan import ALERTS, COMPONENTS, FALLBACK_CONTACTS, WAR_ROOM


class SeverityLevel(BaseModel):
    """One severity: its name, what it means, whether declaring it pages, and the template's Impact."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Z0-9-]{1,16}$")
    description: str
    pages: bool
    impact: Literal["High", "Medium", "Low"]
    update_minutes: int = Field(default=15, ge=1, le=1440)


class AlertRoute(BaseModel):
    """What the declare form opened from an alert starts with: a scenario and a severity."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scenario: str | None = None
    severity: str | None = None


class PagerRoute(BaseModel):
    """Where a page goes in PagerDuty: a service (REST needs one) and, optionally, an escalation policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service_id: str | None = Field(default=None, pattern=r"^[A-Z0-9]{2,20}$")
    escalation_policy_id: str | None = Field(default=None, pattern=r"^[A-Z0-9]{2,20}$")


class Target(BaseModel):
    """A component's recovery targets (the plan's RTO/RPO table by default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    rto: timedelta
    rpo: timedelta


DEFAULT_SEVERITIES: list[SeverityLevel] = [
    SeverityLevel(
        name="SEV1",
        description="Complete outage or data loss; all hands",
        pages=True,
        impact="High",
    ),
    SeverityLevel(
        name="SEV2",
        description="Major feature down or degraded for many users",
        pages=True,
        impact="High",
    ),
    SeverityLevel(
        name="SEV3",
        description="Partial degradation with a workaround",
        pages=False,
        impact="Medium",
    ),
    SeverityLevel(
        name="SEV4",
        description="Minor issue, no customer impact yet",
        pages=False,
        impact="Low",
        update_minutes=60,
    ),
]

DEFAULT_ROLES = ["commander", "communications", "operations", "scribe"]
# What a `WARROOM_BRIDGE_URL` template may name.
BRIDGE_FIELDS = ("incident", "slug", "token")


def _default_targets() -> dict[str, Target]:
    return {c.id: Target(name=c.name, rto=c.rto, rpo=c.rpo) for c in COMPONENTS}


class Settings(BaseSettings):
    """Every setting of warroom. Environment names are in the README's settings table."""

    # JSON settings are decoded by `_json` below, not by pydantic-settings: its decoder stops at the
    # first bad value with a traceback, and every problem must be listed at once.
    model_config = SettingsConfigDict(
        env_prefix="WARROOM_",
        extra="ignore",
        populate_by_name=True,
        env_file=None,
        enable_decoding=False,
    )

    @field_validator(
        "responders",
        "approvers",
        "roles",
        "severities",
        "targets",
        "fallback_contacts",
        "pagerduty_routes",
        "page_targets",
        "alert_scenarios",
        "sns_topics",
        "statuspage_components",
        mode="before",
    )
    @classmethod
    def _json(cls, value: Any) -> Any:
        """A JSON setting given as text (from the environment) is parsed here."""
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError:
            raise ValueError(
                "is not valid JSON (README, Settings, shows each setting's shape)"
            ) from None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a time zone name like Europe/Berlin or UTC"
            ) from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @field_validator("bridge_url")
    @classmethod
    def _bridge(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.startswith("https://"):
            raise ValueError("must be an https:// link")
        try:
            names = {
                n for _, n, _, _ in string.Formatter().parse(value) if n is not None
            }
        except ValueError:
            raise ValueError("has an unmatched { or }") from None
        unknown = sorted(names - set(BRIDGE_FIELDS))
        if unknown:
            raise ValueError(
                f"knows only {{incident}}, {{slug}} and {{token}}, not {{{unknown[0]}}}"
            )
        return value

    def bridge_for(self, incident: str, slug: str) -> str | None:
        """A new call link for an incident (a fresh token each time), or None without a template."""
        if self.bridge_url is None:
            return None
        token = secrets.token_urlsafe(9)
        return self.bridge_url.format(incident=incident, slug=slug, token=token)

    slack_bot_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("SLACK_BOT_TOKEN", "slack_bot_token"),
        description="Bot token (xoxb-...). Needed by `warroom run`.",
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret"),
        description="Signing secret used to verify Slack's HTTP requests. Needed by `warroom run` in HTTP mode.",
    )
    slack_app_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("SLACK_APP_TOKEN", "slack_app_token"),
        description="App-level token (xapp-...). When set, `warroom run` uses Socket Mode.",
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/",
        pattern=r"^https?://",
        description="Slack Web API base URL; tests and the console point it at the local workspace.",
    )
    announcement_channel: str = Field(
        default="incident-response",
        pattern=r"^[a-z0-9_-]{1,80}$",
        description="Channel (name, without #) where incidents are announced.",
    )
    database_path: Path = Field(
        default=Path("warroom.db"),
        description="SQLite file holding incidents, timeline and journal.",
    )
    http_host: str = Field(
        default="0.0.0.0", description="Address the HTTP server binds."
    )
    http_port: int = Field(
        default=3000,
        ge=0,
        le=65535,
        description="Port for Slack requests (HTTP mode) and health.",
    )
    responders: list[str] = Field(
        default_factory=list,
        description="Slack user ids (U...) and user-group ids (S...) allowed to change incidents; empty: everyone.",
    )
    approvers: list[str] = Field(
        default_factory=list,
        description="Slack user ids and user-group ids allowed to approve AWS steps; empty: nobody (AWS changes are refused).",
    )
    roles: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ROLES),
        description="Incident roles that `/incident assign` accepts.",
    )
    severities: list[SeverityLevel] = Field(
        default_factory=lambda: list(DEFAULT_SEVERITIES),
        description="Severity levels (JSON list): name, description, pages, impact, update_minutes.",
    )
    targets: dict[str, Target] = Field(
        default_factory=_default_targets,
        description="RTO/RPO per component id (JSON); defaults to the plan's table.",
    )
    war_room: str = Field(
        default=WAR_ROOM,
        description="The war-room call (a URL or a room id) shown on the card.",
    )
    timezone: str = Field(
        default="UTC",
        description="The time zone the plan's notifications write times in (an IANA name such as `Europe/Berlin`); cards and lists use Slack's date tokens, which show each reader's own time.",
    )
    postmortem_remind_hours: float = Field(
        default=24,
        gt=0,
        le=720,
        description="Hours after a shared post-mortem draft still missing details (trigger, impact, resolution, root cause, contributing factors, review meeting) before the commander is reminded by direct message; at most three reminders.",
    )
    archive_after_days: float | None = Field(
        default=None,
        ge=0,
        le=365,
        description="Days after an incident is resolved before its channel is archived (after saying where the post-mortem is); unset: never.",
    )
    bridge_url: str | None = Field(
        default=None,
        description="A call link made per incident, shown on the card instead of the war room: `https://…` with `{incident}` (INC-7), `{slug}` (the channel name) and `{token}` (random, per incident), e.g. `https://meet.jit.si/warroom-{slug}-{token}`.",
    )
    fallback_contacts: list[str] = Field(
        default_factory=lambda: list(FALLBACK_CONTACTS),
        description="People to call by hand when paging fails (the plan's contact table).",
    )
    journal_retention_days: int = Field(
        default=30,
        ge=1,
        description="Days inbox and outbox rows are kept; timeline rows are kept forever.",
    )
    shutdown_drain_seconds: float = Field(
        default=10.0,
        ge=0,
        le=300,
        description="On SIGTERM, how long in-flight work and queued Slack posts may finish.",
    )
    lease_seconds: float = Field(
        default=30.0,
        ge=1,
        le=600,
        description="How long a frozen warroom keeps the database before another may take it over;"
        " a crashed one on the same host is taken over at once.",
    )
    integrity_check_seconds: float = Field(
        default=3600.0,
        ge=1,
        description="How often the running bot checks the database file (SQLite's quick_check);"
        " a damaged file turns /readyz red.",
    )
    dry_run: bool = Field(
        default=False, description="Plan AWS steps without ever executing them."
    )
    drill_dry_run: bool = Field(
        default=True,
        description="Drill incidents plan AWS steps without sending mutating calls; only a sandbox (`warroom drill`) turns this off.",
    )
    approval_ttl_minutes: float = Field(
        default=15,
        gt=0,
        le=1440,
        description="Minutes an AWS step's approval request stays valid; after that it must be requested again.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level."
    )
    postmortem_dir: Path | None = Field(
        default=None,
        description="Directory where post-mortem drafts are kept as files; default: `postmortems` next to the database.",
    )
    pagerduty_api_key: SecretStr | None = Field(
        default=None,
        description="PagerDuty REST API v2 key; with it the bot creates incidents, lists on-call and adds responders.",
    )
    pagerduty_routing_key: SecretStr | None = Field(
        default=None,
        description="PagerDuty Events API v2 routing (integration) key, used when no API key is set.",
    )
    pagerduty_from_email: str | None = Field(
        default=None,
        description="Email of the PagerDuty user the bot acts as (the REST API's From header).",
    )
    pagerduty_rest_url: str = Field(
        default="https://api.pagerduty.com",
        pattern=r"^https://",
        description="PagerDuty REST API base URL (https only).",
    )
    pagerduty_events_url: str = Field(
        default="https://events.pagerduty.com",
        pattern=r"^https://",
        description="PagerDuty Events API base URL (https only).",
    )
    pagerduty_ca_bundle: Path | None = Field(
        default=None,
        description="PEM file of CA certificates to trust for PagerDuty (a TLS-inspecting proxy, tests); default: the system's.",
    )
    pagerduty_routes: dict[str, PagerRoute] = Field(
        default_factory=dict,
        description="JSON object: `<scenario>/<SEV>`, `<scenario>`, `<SEV>` or `default` -> {service_id, escalation_policy_id}; the most specific key wins.",
    )
    page_targets: dict[str, str] = Field(
        default_factory=dict,
        description="JSON object: a runbook page step's target (`Security Lead`, `DevOps Lead`) -> whom to page: `<@U…>`, an escalation policy or a service (id or name). A target not listed is not paged: its step shows the plan's contact to call.",
    )
    alert_scenarios: dict[str, AlertRoute] = Field(
        default_factory=lambda: {k: AlertRoute(**v) for k, v in ALERTS.items()},
        description="JSON object: an alert's service (a PagerDuty service's name, an alarm's description), its title, or words in its title -> {scenario, severity} the declare form opened from its Declare button starts with; default: the plan's Monitoring and Alerting alerts (e.g. `Database connectivity lost` -> database-failure, SEV1).",
    )
    sns_topics: list[str] = Field(
        default_factory=list,
        description="JSON list of the SNS topic ARNs whose CloudWatch alarms become alerts; enables `POST /aws/sns` (deliveries from other topics are refused).",
    )
    sns_cert_host: str = Field(
        default=r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?",
        description="Regular expression for the host SNS signing certificates and subscription confirmations may come from; change it only for tests.",
    )
    sns_ca_bundle: Path | None = Field(
        default=None,
        description="PEM file of CA certificates to trust when fetching SNS signing certificates (tests); default: the system's.",
    )
    tracker: Literal["none", "github", "jira"] = Field(
        default="none",
        description="Where follow-ups become issues: `github` (with `WARROOM_GITHUB_REPO` and `WARROOM_GITHUB_TOKEN`), `jira` (with `WARROOM_JIRA_URL`, `WARROOM_JIRA_PROJECT` and `WARROOM_JIRA_TOKEN`), or `none` (kept in the bot only).",
    )
    jira_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="Your Jira's address, e.g. `https://acme.atlassian.net`.",
    )
    jira_project: str | None = Field(
        default=None,
        pattern=r"^[A-Z][A-Z0-9_]{1,19}$",
        description="Key of the Jira project follow-ups are filed in, e.g. `OPS`.",
    )
    jira_email: str | None = Field(
        default=None,
        description="With Jira Cloud: the email of the account `WARROOM_JIRA_TOKEN` (an API token) belongs to; unset for a Jira Server/Data Center personal access token.",
    )
    jira_token: SecretStr | None = Field(
        default=None,
        description="Jira API token (Cloud, with `WARROOM_JIRA_EMAIL`) or personal access token (Server/Data Center).",
    )
    jira_issue_type: str = Field(
        default="Task",
        min_length=1,
        max_length=60,
        description="Issue type follow-ups are filed as.",
    )
    github_repo: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$",
        description="`owner/name` of the GitHub repository follow-ups are filed in.",
    )
    github_token: SecretStr | None = Field(
        default=None,
        description="GitHub token allowed to create and read issues in `WARROOM_GITHUB_REPO` (fine-grained: Issues read and write).",
    )
    github_api_url: str = Field(
        default="https://api.github.com",
        pattern=r"^https?://",
        description="GitHub's REST API (GitHub Enterprise Server: `https://<host>/api/v3`).",
    )
    github_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Secret of a GitHub webhook (`issues` events, JSON) on `WARROOM_GITHUB_REPO`; enables `POST /github/webhook`, so a closed or reopened issue shows at once instead of at the next sync.",
    )
    followup_sync_minutes: int = Field(
        default=15,
        ge=1,
        le=1440,
        description="Minutes between exports of new follow-ups, reads of their issues' state, and direct messages to owners of overdue ones (once a day each).",
    )
    status_url: str | None = Field(
        default=None,
        pattern=r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?|file:///.+|/.+)$",
        description="Where the public status page is published: `s3://bucket/prefix` (in a region other than the one runbooks repair: `WARROOM_STATUS_REGION`) or an absolute directory, served by the bot at `/status`; default: `status` next to the database.",
    )
    status_region: str | None = Field(
        default=None,
        pattern=r"^[a-z]{2}(-[a-z]+)+-\d$",
        description="AWS region of the status page bucket: not the one being repaired, so the page stays up.",
    )
    statuspage_api_key: SecretStr | None = Field(
        default=None,
        description="Atlassian Statuspage API key: mirrors every public update to that page too (with `WARROOM_STATUSPAGE_PAGE_ID`).",
    )
    statuspage_page_id: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]{4,40}$",
        description="Id of the Atlassian Statuspage page public updates are mirrored to.",
    )
    statuspage_api_url: str = Field(
        default="https://api.statuspage.io",
        pattern=r"^https?://",
        description="Atlassian Statuspage's REST API (the tests' stand-in).",
    )
    statuspage_components: dict[str, str] = Field(
        default_factory=dict,
        description="JSON object: the plan's component id (`database`, `api`, ...) -> the Statuspage component id its state is mirrored to; components not listed are not touched there.",
    )
    pagerduty_approvers_policy: str | None = Field(
        default=None,
        pattern=r"^[A-Z0-9]{2,20}$",
        description="Escalation policy paged when an approval is left unanswered; default: the incident's own policy.",
    )
    pagerduty_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Secret of the PagerDuty v3 webhook subscription; enables `/pagerduty/webhook` in HTTP mode.",
    )
    pagerduty_poll_seconds: int = Field(
        default=60,
        ge=5,
        le=3600,
        description="Seconds between polls of PagerDuty for acknowledgements and resolutions.",
    )
    update_grace_minutes: int = Field(
        default=5,
        ge=1,
        le=240,
        description="Minutes after a status-update reminder before the commander is mentioned, and again before they are paged.",
    )
    approval_page_minutes: int = Field(
        default=15,
        ge=1,
        le=1440,
        description="Minutes an approval request may wait unanswered before the approvers' on-call is paged.",
    )
    backup_url: str | None = Field(
        default=None,
        pattern=r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?|file:///.+|/.+)$",
        description="Where `warroom backup` ships backups and `warroom restore` finds them: `s3://bucket/prefix` (server-side encrypted) or an absolute directory path.",
    )
    backup_region: str | None = Field(
        default=None,
        pattern=r"^[a-z]{2}(-[a-z]+)+-\d$",
        description="AWS region of the backup bucket: a third region, neither the one a runbook repairs nor the bot's own.",
    )
    backup_open_seconds: float = Field(
        default=60,
        ge=5,
        le=60,
        description="With `WARROOM_BACKUP_URL`, `warroom run` backs up this often while any incident is open.",
    )
    backup_idle_seconds: float = Field(
        default=3600,
        ge=60,
        le=86400,
        description="With `WARROOM_BACKUP_URL`, how often `warroom run` backs up while no incident is open.",
    )
    backup_check_time: str | None = Field(
        default=None,
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="UTC time (HH:MM) of the daily backup checks (scenario `daily-backup-checks`); unset: off.",
    )
    commands_per_minute: int = Field(
        default=10,
        ge=0,
        le=600,
        description="`/incident` commands one person may send at once, and again per minute after that; more get a private 'wait N s' answer. 0 turns the limit off.",
    )

    def severity(self, name: str) -> SeverityLevel | None:
        """Return the severity called `name` (case-insensitive), if configured."""
        return next((s for s in self.severities if s.name == name.upper()), None)

    def problems_for(self, command: str) -> list[str]:
        """List what is missing for `command`; only `run` needs Slack credentials."""
        problems: list[str] = []
        if command == "run":
            if self.slack_bot_token is None:
                problems.append("SLACK_BOT_TOKEN: required by `warroom run`")
            elif not self.slack_bot_token.get_secret_value().startswith("xoxb-"):
                problems.append("SLACK_BOT_TOKEN: must be a bot token (xoxb-...)")
            if self.slack_app_token is None and self.slack_signing_secret is None:
                problems.append(
                    "SLACK_SIGNING_SECRET: required in HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)"
                )
            if (
                self.slack_app_token is not None
                and not self.slack_app_token.get_secret_value().startswith("xapp-")
            ):
                problems.append(
                    "SLACK_APP_TOKEN: must be an app-level token (xapp-...)"
                )
        names = [s.name for s in self.severities]
        if len(set(names)) != len(names):
            problems.append("WARROOM_SEVERITIES: severity names must be unique")
        if not self.severities:
            problems.append("WARROOM_SEVERITIES: at least one severity is needed")
        if "commander" not in self.roles:
            problems.append("WARROOM_ROLES: must include 'commander'")
        if self.statuspage_api_key is not None and self.statuspage_page_id is None:
            problems.append(
                "WARROOM_STATUSPAGE_PAGE_ID: required with WARROOM_STATUSPAGE_API_KEY"
            )
        if self.tracker == "jira":
            for name in ("jira_url", "jira_project", "jira_token"):
                if getattr(self, name) is None:
                    problems.append(
                        f"WARROOM_{name.upper()}: required with WARROOM_TRACKER=jira"
                    )
        if self.tracker == "github":
            if self.github_repo is None:
                problems.append(
                    "WARROOM_GITHUB_REPO: required with WARROOM_TRACKER=github"
                )
            if self.github_token is None:
                problems.append(
                    "WARROOM_GITHUB_TOKEN: required with WARROOM_TRACKER=github"
                )
        if self.pagerduty_api_key is not None and not self.pagerduty_from_email:
            problems.append(
                "WARROOM_PAGERDUTY_FROM_EMAIL: required with WARROOM_PAGERDUTY_API_KEY"
            )
        return problems


def _describe(error: dict[str, Any]) -> str:
    loc = error["loc"]
    field = Settings.model_fields.get(str(loc[0])) if loc else None
    name = _env_name(str(loc[0]), field) if field else "settings"
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[1:])
    # Never include error["input"]: it may be a secret.
    return f"{name}{path}: {str(error['msg']).removeprefix('Value error, ')}"


def _env_name(name: str, field: Any) -> str:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"WARROOM_{name.upper()}"


def load_settings(command: str = "run", **overrides: Any) -> Settings:
    """Read settings for `command`; raise ConfigError listing every problem at once."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = [_describe(dict(e)) for e in exc.errors()]
        # Check the command's needs too, with the invalid fields put back to their defaults,
        # so one run reports everything that is wrong.
        bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        defaults = {
            name: Settings.model_fields[name].get_default(call_default_factory=True)
            for name in bad
            if name in Settings.model_fields
        }
        with contextlib.suppress(ValidationError):
            problems += Settings(**{**overrides, **defaults}).problems_for(command)
        raise ConfigError(problems) from None
    problems = settings.problems_for(command)
    if problems:
        raise ConfigError(problems)
    return settings
