"""The incident lifecycle: declare, update, assign, resolve, channel names and scheduled status updates."""
