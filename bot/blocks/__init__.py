"""Pure Block Kit builders for every message the bot sends (no I/O)."""
