"""Inbound Slack listeners: actions, views, events and the PagerDuty webhook. Each parses, calls one service, renders."""
