"""Gateways to the outside: AWS (boto3), PagerDuty and the Slack outbox. Services call them; they know nothing of incidents beyond the values passed in."""
