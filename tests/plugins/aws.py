"""pytest fixtures for the aws stand-in (filled in by its owner)."""
