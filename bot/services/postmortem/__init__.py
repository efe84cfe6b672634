"""The post-mortem draft: facts from the timeline, steps, durations, RTO/RPO, Markdown and JSON renderings, stats."""
