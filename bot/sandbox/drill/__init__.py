"""The drill driver: runs a scenario end to end against the stand-ins as a responder would."""
