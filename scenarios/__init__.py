"""Scenario runbooks as data: one YAML file per scenario of the plan, shared phases and schema.json (no code)."""
