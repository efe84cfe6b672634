"""The one composition root: builds every gateway once, the services on them, the Bolt app and the server.

`build_services` wires storage, the gateways (Slack outbox, AWS, PagerDuty) and the domain services; `create_app` builds the Bolt `AsyncApp`;
`create_web_app` mounts Slack's endpoint (HTTP mode), `/healthz`, `/readyz`, `/metrics` and the status page (`/status`) on one
aiohttp app with the lifecycle as its cleanup context. The routes and the lifecycle are `bot/web.py`.
"""

from __future__ import annotations

import ssl

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.gateways.aws.gateway import AwsGateway
from bot.gateways.aws.sns import SnsVerifier
from bot.gateways.github import GitHubTracker
from bot.gateways.jira import JiraTracker
from bot.gateways.pagerduty.gateway import PagerDutyGateway
from bot.gateways.pagerduty.pager import LogOnlyPager, Pager
from bot.gateways.pagerduty.transport import default_backoff
from bot.gateways.slack.outbox import Outbox
from bot.gateways.status_sinks import sink_for
from bot.gateways.statuspage_io import AtlassianStatuspage
from bot.models.incidents import Clock, utcnow
from bot.scenarios.schema import Kind, load_all
from bot.services import Communications, Services
from bot.services.alerts import AlertService
from bot.services.followups import FollowUpService
from bot.services.incidents.service import IncidentService
from bot.services.incidents.status_updates import StatusUpdateService
from bot.services.incidents.subscriptions import SubscriptionService
from bot.services.paging.pages import PageService
from bot.services.paging.sync import PagerDutySync
from bot.services.ports import Tracker
from bot.services.postmortem.service import PostmortemService
from bot.services.runbooks.service import RunbookService
from bot.services.scheduling.backup_checks import BackupCheckService
from bot.services.scheduling.reminders import ReminderService
from bot.services.statuspage import StatusPageService
from bot.storage import Storage
from bot.web import (
    BOLT,
    IDENTITIES,
    SERVICES,
    STATE,
    handle_healthz,
    handle_metrics,
    handle_readyz,
    handle_slack,
    handle_status,
    lifecycle,
)
from handlers import boltfix, register_all
from handlers.identity import BotIdentity
from handlers.listeners.github_webhook import github_webhook
from handlers.listeners.pagerduty_webhook import pagerduty_webhook
from handlers.listeners.sns import sns_endpoint
from handlers.middleware import SettlingApp
from handlers.outbound.alerts import SlackAlertAnnouncer
from handlers.outbound.announcer import SlackAnnouncer
from handlers.outbound.authoriser import SlackAuthoriser
from handlers.outbound.comms import SlackCommsPort
from handlers.outbound.followups import SlackFollowUpPort
from handlers.outbound.postmortem_publisher import SlackPostmortemPublisher
from handlers.outbound.runbook_announcer import SlackRunbookAnnouncer


def slack_client(settings: Settings) -> AsyncWebClient:
    token = (
        settings.slack_bot_token.get_secret_value()
        if settings.slack_bot_token
        else None
    )
    return AsyncWebClient(token=token, base_url=settings.slack_api_url, timeout=10)


def build_pager(settings: Settings, *, backoff_scale: float = 1.0) -> Pager:
    """PagerDuty when a key is configured, otherwise the log-only pager."""
    if settings.pagerduty_api_key is None and settings.pagerduty_routing_key is None:
        return LogOnlyPager()
    verify: ssl.SSLContext | bool = True
    if settings.pagerduty_ca_bundle is not None:
        verify = ssl.create_default_context(cafile=str(settings.pagerduty_ca_bundle))
    return PagerDutyGateway(
        api_key=settings.pagerduty_api_key,
        routing_key=settings.pagerduty_routing_key,
        from_email=settings.pagerduty_from_email,
        rest_url=settings.pagerduty_rest_url,
        events_url=settings.pagerduty_events_url,
        verify=verify,
        backoff=lambda attempt: default_backoff(attempt) * backoff_scale,
    )


def build_tracker(settings: Settings) -> Tracker | None:
    """The issue tracker follow-ups are filed in (`WARROOM_TRACKER`), if any."""
    if settings.tracker == "github" and settings.github_repo and settings.github_token:
        return GitHubTracker(
            repo=settings.github_repo,
            token=settings.github_token.get_secret_value(),
            api_url=settings.github_api_url,
        )
    if (
        settings.tracker == "jira"
        and settings.jira_url
        and settings.jira_project
        and settings.jira_token
    ):
        return JiraTracker(
            url=settings.jira_url,
            project=settings.jira_project,
            token=settings.jira_token.get_secret_value(),
            email=settings.jira_email,
            issue_type=settings.jira_issue_type,
        )
    return None


def build_services(
    settings: Settings,
    *,
    clock: Clock = utcnow,
    client: AsyncWebClient | None = None,
    backoff_base: float = 1.0,
) -> Services:
    """Build every gateway once, then the services on them (nothing is opened yet)."""
    storage = Storage(settings.database_path)
    # The gateways: one Web API client behind one outbox, one AWS gateway, one pager.
    client = client or slack_client(settings)
    outbox = Outbox(
        storage=storage, client=client, clock=clock, backoff_base=backoff_base
    )
    aws = AwsGateway()
    pager = build_pager(settings, backoff_scale=backoff_base)
    # The Slack side of the services' ports.
    announcer = SlackAnnouncer(outbox=outbox, settings=settings)
    port = SlackCommsPort(outbox=outbox, client=client, settings=settings)
    authoriser = SlackAuthoriser(client=client, settings=settings)
    publisher = SlackPostmortemPublisher(
        client=client, outbox=outbox, backoff_base=backoff_base
    )
    # The services.
    incidents = IncidentService(
        storage=storage, settings=settings, clock=clock, announcer=announcer
    )
    announcer.bind(incidents)
    pages = PageService(
        storage=storage, settings=settings, clock=clock, pager=pager, port=port
    )
    alerts = AlertService(
        storage=storage,
        settings=settings,
        clock=clock,
        port=SlackAlertAnnouncer(outbox=outbox, settings=settings),
        sns=SnsVerifier(
            topics=frozenset(settings.sns_topics),
            cert_host=settings.sns_cert_host,
            ca_bundle=settings.sns_ca_bundle,
        ),
    )
    secret = settings.pagerduty_webhook_secret
    pd_sync = PagerDutySync(
        storage=storage,
        clock=clock,
        pager=pager,
        port=port,
        alerts=alerts,
        webhook_secret=secret.get_secret_value() if secret else None,
        poll_seconds=settings.pagerduty_poll_seconds,
    )
    reminders = ReminderService(
        storage=storage, settings=settings, clock=clock, port=port, pages=pages
    )
    status_page = StatusPageService(
        storage=storage,
        settings=settings,
        clock=clock,
        sink=sink_for(
            settings.status_url or str(settings.database_path.parent / "status"),
            region=settings.status_region,
        ),
        mirror=AtlassianStatuspage(
            api_url=settings.statuspage_api_url,
            page_id=settings.statuspage_page_id,
            api_key=settings.statuspage_api_key.get_secret_value(),
        )
        if settings.statuspage_api_key and settings.statuspage_page_id
        else None,
    )
    updates = StatusUpdateService(
        storage=storage,
        clock=clock,
        incidents=incidents,
        reminders=reminders,
        port=port,
        status_page=status_page,
    )
    checks = BackupCheckService(
        storage=storage, settings=settings, clock=clock, port=port, aws=aws
    )
    checks.register(reminders)
    incidents.followers.extend([pages, reminders, status_page])
    scenarios = load_all()
    runbooks = RunbookService(
        storage=storage,
        settings=settings,
        clock=clock,
        scenarios=scenarios,
        gateway=aws,
        authoriser=authoriser,
        announcer=SlackRunbookAnnouncer(outbox=outbox),
        escalations=reminders,
        pager=pages,
        notices=announcer,
    )
    postmortems = PostmortemService(
        storage=storage, settings=settings, clock=clock, publisher=publisher
    )
    publisher.bind(postmortems)
    postmortems.register(reminders)
    followups = FollowUpService(
        storage=storage,
        settings=settings,
        clock=clock,
        port=SlackFollowUpPort(outbox=outbox),
        tracker=build_tracker(settings),
    )
    followups.register(reminders)
    incident_scenarios = {k: s for k, s in scenarios.items() if s.kind is Kind.INCIDENT}
    return Services(
        settings=settings,
        storage=storage,
        clock=clock,
        outbox=outbox,
        incidents=incidents,
        subscriptions=SubscriptionService(
            storage=storage, clock=clock, incidents=incidents
        ),
        alerts=alerts,
        comms=Communications(pager, pages, pd_sync, reminders, updates, checks, aws),
        runbooks=runbooks,
        postmortems=postmortems,
        followups=followups,
        status_page=status_page,
        authoriser=authoriser,
        scenario_titles={k: s.title for k, s in incident_scenarios.items()},
        private_scenarios=frozenset(
            k for k, s in incident_scenarios.items() if s.private
        ),
    )


def create_app(settings: Settings, services: Services) -> AsyncApp:
    """The Bolt app with every listener registered; HTTP mode verifies signatures, Socket Mode does not need to."""
    boltfix.apply()
    secret = (
        settings.slack_signing_secret.get_secret_value()
        if settings.slack_signing_secret
        else None
    )
    identity = BotIdentity(
        settings.slack_bot_token.get_secret_value()
        if settings.slack_bot_token
        else None
    )
    # the token comes from `authorize`
    client = AsyncWebClient(base_url=settings.slack_api_url, timeout=10)
    app = SettlingApp(
        client=client,
        authorize=identity.authorizer(),
        signing_secret=secret or "socket-mode-has-no-signing-secret",
        request_verification_enabled=secret is not None,
        process_before_response=False,
    )
    IDENTITIES[app] = identity
    register_all(app, services)
    return app


def create_web_app(
    settings: Settings, services: Services, bolt: AsyncApp, *, socket_mode: bool = False
) -> web.Application:
    web_app = web.Application()
    web_app[SERVICES], web_app[BOLT], web_app[STATE] = services, bolt, {}
    if not socket_mode:
        web_app.router.add_post("/slack/events", handle_slack)
    if not socket_mode and settings.pagerduty_webhook_secret is not None:
        web_app.router.add_post("/pagerduty/webhook", pagerduty_webhook(services))
    if settings.github_webhook_secret is not None:
        web_app.router.add_post("/github/webhook", github_webhook(services))
    if settings.sns_topics:
        web_app.router.add_post("/aws/sns", sns_endpoint(services))
    if services.status_page.sink.directory is not None:
        web_app.router.add_get("/status", handle_status)
        web_app.router.add_get("/status/{name}", handle_status)
    web_app.router.add_get("/healthz", handle_healthz)
    web_app.router.add_get("/readyz", handle_readyz)
    web_app.router.add_get("/metrics", handle_metrics)
    web_app.cleanup_ctx.append(lifecycle)
    return web_app
