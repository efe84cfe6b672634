"""Work that runs on a clock: reminders and scheduled backup checks."""
