"""Runbooks: starting a scenario, planning steps, approvals bound to the plan, exactly-once execution and outcomes."""
