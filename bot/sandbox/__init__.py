"""The outside world for the console, the demo and the tests: a Slack workspace, moto, payloads. Never imported by services."""
