"""pytest fixtures for the pagerduty stand-in (filled in by its owner)."""
