"""Block Kit rendering of incidents, paging and runbooks. Pure functions of domain values."""
