"""CommandRun: everything a `/recording` subcommand handler needs for one invocation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient

from bot.blocks.kit import Message
from bot.listeners.replies import reply_in_channel, reply_privately
from bot.models import Invocation
from bot.services.bundle import Services


@dataclass
class CommandRun:
    invocation: Invocation
    services: Services
    respond: Respond
    audit_details: dict[str, Any]
    # For opening a form: the Web API client and the command's trigger ID (good for 3 seconds, once).
    client: WebClient | None = None
    trigger_id: str = ""

    def reply_privately(self, message: Message) -> None:
        reply_privately(self.respond, message)

    def reply_in_channel(self, message: Message) -> None:
        reply_in_channel(self.respond, message)


Handler = Callable[[CommandRun, Any], None]
