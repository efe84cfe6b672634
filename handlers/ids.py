"""Every Slack identifier the bot uses: action ids, view callback ids and block ids, as StrEnums.

Kebab-case and feature-prefixed. Nothing else may spell these strings.
"""

from enum import StrEnum


class Action(StrEnum):
    CARD_STATUS = "card-status"
    CARD_RESOLVE = "card-resolve"
    CARD_TIMELINE = "card-timeline"
    ANNOUNCEMENT_SUBSCRIBE = "announcement-subscribe"
    ALERT_DECLARE = "alert-declare"
    ALERT_DISMISS = "alert-dismiss"
    CARD_WAR_ROOM = "card-war-room"
    HOME_DECLARE = "home-declare"
    REMINDER_SNOOZE = "reminder-snooze"
    REMINDER_UPDATE = "reminder-update"
    RUNBOOK_RUN = "runbook-run"
    RUNBOOK_REQUEST = "runbook-request"
    RUNBOOK_APPROVE = "runbook-approve"
    RUNBOOK_REJECT = "runbook-reject"
    RUNBOOK_SKIP = "runbook-skip"
    RUNBOOK_DONE = "runbook-done"
    RUNBOOK_VERIFY = "runbook-verify"
    RUNBOOK_CANCEL = "runbook-cancel"
    RUNBOOK_INPUTS = "runbook-inputs"
    RUNBOOK_MANUAL_DONE = "runbook-manual-done"
    RUNBOOK_ACT = "runbook-act"
    RUNBOOK_MANUAL_SKIP = "runbook-manual-skip"
    POSTMORTEM_EDIT = "postmortem-edit"
    FOLLOWUP_ADD = "followup-add"


class Callback(StrEnum):
    DECLARE = "declare-submit"
    RESOLVE = "resolve-submit"
    UPDATE = "update-submit"
    ALERT_DISMISS = "alert-dismiss-submit"
    RUNBOOK_INPUTS = "runbook-inputs-submit"
    RUNBOOK_SKIP = "runbook-skip-submit"
    POSTMORTEM_DETAILS = "postmortem-details-submit"
    FOLLOWUP = "followup-submit"


class Field(StrEnum):
    """Modal block ids; the action id inside each input block is always `value`."""

    TITLE = "title"
    SEVERITY = "severity"
    SCENARIO = "scenario"
    COMPONENTS = "components"
    IMPACT_STARTED = "impact_started_at"
    DESCRIPTION = "description"
    PRIVATE = "private"
    SUMMARY = "summary"
    ROOT_CAUSE = "root_cause"
    REASON = "reason"
    UPDATE_STATUS = "update_status"
    UPDATE_MESSAGE = "update_message"
    UPDATE_PUBLIC = "update_public"
    SKIP_REASON = "skip_reason"
    TRIGGER = "trigger"
    IMPACT = "impact"
    RESOLUTION = "resolution"
    CONTRIBUTING = "contributing_factors"
    REVIEW_MEETING = "review_meeting"
    FOLLOWUP_TEXT = "followup_text"
    FOLLOWUP_KIND = "followup_kind"
    FOLLOWUP_OWNER = "followup_owner"
    FOLLOWUP_DUE = "followup_due"
    FOLLOWUP_PRIORITY = "followup_priority"


VALUE = "value"
