"""Disaster-recovery scenarios as data: the YAML source, the schema, inputs, AWS calls and their risk, checks, templating, lint and the IAM policy they need. No I/O beyond reading scenario files."""
