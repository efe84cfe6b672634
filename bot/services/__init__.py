"""The domain services and the gateways they use; `Services` is the one dependency container.

Built once by `bot.app.build_services` and handed to Bolt listeners through the context; nothing
here is a module-level global.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.config import Settings
from bot.gateways.slack.outbox import Outbox
from bot.models.incidents import Clock
from bot.services.communications import Communications
from bot.services.incidents.service import IncidentService
from bot.services.postmortem.service import PostmortemService
from bot.services.runbooks.approvals import Authoriser
from bot.services.runbooks.service import RunbookService
from bot.storage import Storage


@dataclass
class Services:
    settings: Settings
    storage: Storage
    clock: Clock
    outbox: Outbox
    incidents: IncidentService
    comms: Communications
    runbooks: RunbookService
    postmortems: PostmortemService
    authoriser: Authoriser
    scenario_titles: dict[str, str] = field(default_factory=dict)
    private_scenarios: frozenset[str] = frozenset()
