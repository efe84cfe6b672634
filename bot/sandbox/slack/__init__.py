"""The Slack stand-in: a workspace that serves the Web API, Socket Mode and signed events over real HTTP."""
