"""The Slack outbox: every post journaled before it is sent, sent once, and found again in history after a crash."""
