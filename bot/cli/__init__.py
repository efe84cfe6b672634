"""The `warroom` command line: serve, demo, drill, verify, reports and the local sandbox commands."""
