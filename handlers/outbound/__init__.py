"""Slack implementations of the service ports: announcers, the comms port, the authoriser and the post-mortem publisher."""
