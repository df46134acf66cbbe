"""What Slack sends, checked before Bolt or any listener reads it.

A signature proves only that the sender holds the signing secret: a leaked secret, a proxy that rewrites
bodies or a change on Slack's side can still deliver a payload of a shape Slack documents nowhere (a user
that is a list, a selected option that is a string). Such a request is answered with an empty 200 and one
log line, and nothing else is done for it (see dispatch.py): no listener reads a value it would have to guess at, so no
card goes to a channel called `"None"` and no 500 with a traceback goes back to Slack.

Only the fields the bot reads are checked, and only for their type and shape; what the bot ignores may
be anything.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

# Slack's IDs: a user (U…, or W… on Enterprise Grid), a conversation (C… public, G… private, D… a DM), a team.
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,30}$")
_TEAM_ID = re.compile(r"^[TE][A-Z0-9]{2,30}$")

_INTERACTIONS = frozenset({"block_actions", "view_submission", "view_closed", "shortcut", "message_action"})


def is_user_id(value: object) -> bool:
    return isinstance(value, str) and USER_ID.match(value) is not None


def is_channel_id(value: object) -> bool:
    return isinstance(value, str) and CHANNEL_ID.match(value) is not None


def shape_problem(body: object) -> str | None:
    """What in a Slack request's body is not of the shape Slack sends, in a few words; None when all is well."""
    if not isinstance(body, dict):
        return "its body is not an object"
    kind = body.get("type")
    if "command" in body:
        return _command(body)
    if kind is None:
        return "it is neither a slash command nor an interaction nor an event"
    if not isinstance(kind, str):
        return "its type is not a string"
    if kind in _INTERACTIONS:
        return _interaction(body, kind)
    if kind == "event_callback":
        return _event(body)
    return None  # url_verification, app_rate_limited …: nothing of them is read


def _command(body: dict[str, Any]) -> str | None:
    if not isinstance(body.get("command"), str):
        return "its command is not a string"
    if not is_user_id(body.get("user_id")):
        return "its user_id is not a Slack user ID"
    if not _is_team_id(body.get("team_id")):
        return "its team_id is not a Slack team ID"
    if not isinstance(body.get("channel_id"), str) or not body["channel_id"]:
        return "it has no channel_id"
    return _strings(body, "text", "trigger_id", "response_url")


def _interaction(body: dict[str, Any], kind: str) -> str | None:
    user = body.get("user")
    if not isinstance(user, dict) or not is_user_id(user.get("id")):
        return "its user is not an object with a Slack user ID"
    if not _optional(user.get("team_id"), _is_team_id):
        return "its user's team_id is not a Slack team ID"
    team = body.get("team")
    if team is not None and not (isinstance(team, dict) and _optional(team.get("id"), _is_team_id)):
        return "its team is not an object with a Slack team ID"
    for name in ("channel", "container", "message", "view", "state"):
        if body.get(name) is not None and not isinstance(body[name], dict):
            return f"its {name} is not an object"
    channel = body.get("channel") or {}
    if not _optional(channel.get("id"), lambda v: isinstance(v, str)):
        return "its channel's ID is not a string"
    problem = _strings(body, "trigger_id", "response_url", "callback_id")
    if problem:
        return problem
    if kind == "block_actions":
        return _actions(body.get("actions")) or _state(body.get("state"))
    if kind in ("view_submission", "view_closed"):
        view = body.get("view")
        if not isinstance(view, dict):
            return "its view is not an object"
        return _strings(view, "private_metadata", "callback_id", "id") or _state(view.get("state"), required=True)
    return None


def _actions(actions: object) -> str | None:
    if not isinstance(actions, list) or not actions:
        return "its actions are not a list of actions"
    for action in actions:
        if not isinstance(action, dict) or not isinstance(action.get("action_id"), str):
            return "an action is not an object with an action_id"
        problem = _strings(action, "value", "block_id") or _input(action)
        if problem:
            return problem
    return None


def _state(state: object, *, required: bool = False) -> str | None:
    """`state.values`: block ID → action ID → the input's state."""
    if state is None and not required:
        return None
    if not isinstance(state, dict):
        return "its state is not an object"
    values = state.get("values")
    if values is None and not required:
        return None
    if not isinstance(values, dict):
        return "its state's values are not an object"
    for block in values.values():
        if not isinstance(block, dict):
            return "an input's state is not an object"
        for element in block.values():
            if not isinstance(element, dict):
                return "an input's state is not an object"
            problem = _input(element)
            if problem:
                return problem
    return None


def _input(element: dict[str, Any]) -> str | None:
    """The answers the bot reads from an input or a select: text, one option, one conversation."""
    if not _optional(element.get("value"), lambda v: isinstance(v, str)):
        return "an input's value is not text"
    option = element.get("selected_option")
    if option is not None and not (isinstance(option, dict) and isinstance(option.get("value"), str)):
        return "a selected option is not an object with a value"
    if not _optional(element.get("selected_conversation"), lambda v: isinstance(v, str)):
        return "a selected conversation is not a conversation ID"
    return None


def _event(body: dict[str, Any]) -> str | None:
    event = body.get("event")
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return "its event is not an object with a type"
    if not _optional(body.get("team_id"), _is_team_id):
        return "its team_id is not a Slack team ID"
    return _strings(body, "event_id")


def _strings(node: dict[str, Any], *names: str) -> str | None:
    """The first of `names` present in `node` with a value that is not a string (null counts as absent)."""
    for name in names:
        if not _optional(node.get(name), lambda v: isinstance(v, str)):
            return f"its {name} is not a string"
    return None


def _optional(value: object, valid: Callable[[object], bool]) -> bool:
    return value is None or valid(value)


def _is_team_id(value: object) -> bool:
    return isinstance(value, str) and _TEAM_ID.match(value) is not None


def refuse_malformed(body: object) -> bool:
    """Whether to refuse a request with this (parsed) body; a refusal is logged, in one line."""
    problem = shape_problem(body)
    if problem is None:
        return False
    fields = body if isinstance(body, dict) else {}
    kind = fields.get("type")
    what = kind if isinstance(kind, str) else "slash command" if "command" in fields else "request"
    logger.info("ignored a malformed Slack %s: %s", what, problem)
    return True
