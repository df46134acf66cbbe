"""The IDs the Slack app and the bot share (buttons, the form, the shortcut): a contract, never renamed.

Block builders put them on buttons, listeners subscribe to them, the console and the benchmark press them.
"""

from __future__ import annotations

ACTION_APPROVE = "recording_approve"
ACTION_DENY = "recording_deny"
ACTION_RETRY = "recording_retry"
ACTION_ABANDON = "recording_abandon"
ACTION_RESUME = "recording_resume"
ACTION_OPEN_PAUSE_FORM = "recording_open_pause_modal"
ACTION_SETTINGS_PICK = "recording_settings_pick"
# The answer to "which side did you mean?" when a reason begins with `caller`, `callee` (see ChooseSide).
ACTION_SIDE_ONLY = "recording_pause_side_only"
ACTION_BOTH_SIDES = "recording_pause_both_sides"

# The pause form (a modal) and the global shortcut that opens it.
PAUSE_FORM = "recording_pause"
PAUSE_SHORTCUT = "recording_pause_shortcut"
# The form's inputs: each input block's block_id and its element's action_id are this same word.
INPUT_TARGET = "target"
INPUT_DURATION = "duration"
INPUT_CHANNELS = "channels"
INPUT_REASON = "reason"
INPUT_CHANNEL = "channel"

# A settings change's card (`/recording set`): decided like a pause, undone by asking again.
ACTION_CHANGE_APPROVE = "recording_change_approve"
ACTION_CHANGE_DENY = "recording_change_deny"
ACTION_CHANGE_RETRY = "recording_change_retry"
ACTION_CHANGE_ABANDON = "recording_change_abandon"
ACTION_CHANGE_UNDO = "recording_change_undo"
