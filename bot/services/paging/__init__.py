"""Paging the on-call: page requests, the durable page worker, target resolution and PagerDuty sync."""
