"""What a person is told about a request the bot acknowledged and then could not finish (it was killed first)."""

from __future__ import annotations

from datetime import datetime

from bot.action_ids import (
    ACTION_ABANDON,
    ACTION_APPROVE,
    ACTION_DENY,
    ACTION_RESUME,
    ACTION_RETRY,
    ACTION_SETTINGS_PICK,
)
from bot.blocks.kit import Message, code, section, shorten, slack_date
from bot.blocks.text import escape

# A command's text as quoted back: enough to recognise it.
_QUOTED_CHARS = 200


def command_words(command: str, text: str) -> str:
    """A slash command as the person typed it, quoted (`/recording pause 1234 10m`)."""
    return code(shorten(f"{command} {text}".strip(), _QUOTED_CHARS))


# The bot's own buttons by their words on the card (blocks/pauses.py, blocks/home.py).
_BUTTONS = {
    ACTION_APPROVE: "Approve",
    ACTION_DENY: "Deny",
    ACTION_RETRY: "Retry",
    ACTION_ABANDON: "Abandon",
    ACTION_RESUME: "Resume now",
    ACTION_SETTINGS_PICK: "Show",
}


def click_words(action_id: str, label: str = "") -> str:
    """A button press, by the button's words (the bot's own, or those Slack sent)."""
    words = _BUTTONS.get(action_id) or label
    return f"click on *{escape(shorten(words, 75))}*" if words else "click"


FORM_WORDS = "pause form"


def not_done_message(what: str, received_at: datetime) -> Message:
    """`what`: command_words(), click_words() or FORM_WORDS."""
    text = (
        f":warning: recording-bot restarted before it finished your {what} from {slack_date(received_at)}; "
        "it was not done — please run it again."
    )
    return Message(text, [section(text)])
