"""Every Slack identifier the bot uses: action ids, view callback ids and block ids, as StrEnums.

Kebab-case and feature-prefixed. Nothing else may spell these strings.
"""

from enum import StrEnum


class Action(StrEnum):
    CARD_STATUS = "card-status"
    CARD_RESOLVE = "card-resolve"
    CARD_TIMELINE = "card-timeline"
    CARD_WAR_ROOM = "card-war-room"
    HOME_DECLARE = "home-declare"


class Callback(StrEnum):
    DECLARE = "declare-submit"
    RESOLVE = "resolve-submit"


class Field(StrEnum):
    """Modal block ids; the action id inside each input block is always `value`."""

    TITLE = "title"
    SEVERITY = "severity"
    SCENARIO = "scenario"
    COMPONENTS = "components"
    IMPACT_STARTED = "impact_started_at"
    DESCRIPTION = "description"
    SUMMARY = "summary"
    ROOT_CAUSE = "root_cause"


VALUE = "value"
