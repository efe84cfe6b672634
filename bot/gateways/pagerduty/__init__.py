"""The PagerDuty gateway: REST and Events transport, lookups, payloads, the pager port and v3 webhook verification."""
