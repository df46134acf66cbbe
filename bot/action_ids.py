"""Action IDs of the bot's buttons: part of the product's contract with the Slack app, never renamed.

Block builders put them on buttons, listeners subscribe to them, the console and the benchmark press them.
"""

from __future__ import annotations

ACTION_APPROVE = "recording_approve"
ACTION_DENY = "recording_deny"
ACTION_RETRY = "recording_retry"
ACTION_ABANDON = "recording_abandon"
ACTION_RESUME = "recording_resume"
