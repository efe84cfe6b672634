"""pytest fixtures for the slack stand-in (filled in by its owner)."""
