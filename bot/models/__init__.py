"""Domain values shared by every layer: incidents, people, clocks (`incidents`) and runbook steps, plans and runs (`runbooks`). No I/O."""
