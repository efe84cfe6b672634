"""warroom: an incident-response ChatOps bot for Slack.

The `bot` package is the composition root and the domain; `handlers` is the thin Slack adapter.
"""

__version__ = "0.1.0"
