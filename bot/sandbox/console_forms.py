"""A modal in a terminal: each input block asked as a question, the answers submitted as Slack would send
them, and the bot's errors shown under the questions they belong to, which are asked again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from bot.sandbox.console_render import CHANNEL_NAMES, mrkdwn_to_text

Read = Callable[[str], "str | None"]
Say = Callable[[str], None]

CANCEL_WORDS = ("cancel", "close")
_MAX_TRIES = 5


class FormFiller:
    def __init__(self, view: dict[str, Any], *, read: Read, say: Say, current_channel: str = "") -> None:
        self._view = view
        self._read = read
        self._say = say
        self._current_channel = current_channel
        self._inputs = [b for b in view.get("blocks") or [] if b.get("type") == "input"]

    def fill(self, *, submit: Callable[[dict[str, str]], httpx.Response], settle: Callable[[], None]) -> None:
        title = (self._view.get("title") or {}).get("text", "form")
        self._say(f"[form: {title}] answer each question; `cancel` closes the form without sending it")
        answers: dict[str, str] = {}
        to_ask = self._inputs
        for _ in range(_MAX_TRIES):
            for block in to_ask:
                answer = self._ask(block)
                if answer is None:
                    self._say("(form closed; nothing was sent)")
                    return
                answers[str(block.get("block_id"))] = answer
            response = submit(answers)
            errors = _errors(response)
            if response.status_code != 200:
                self._say(f"(the bot answered HTTP {response.status_code})")
                return
            if not errors:
                self._say("(form sent)")
                settle()
                return
            for block in self._inputs:
                message = errors.get(str(block.get("block_id")))
                if message:
                    self._say(f"  ⚠ {_label(block)}: {mrkdwn_to_text(message)}")
            to_ask = [b for b in self._inputs if str(b.get("block_id")) in errors] or self._inputs
        self._say(f"(form closed after {_MAX_TRIES} tries; nothing was sent)")

    def _ask(self, block: dict[str, Any]) -> str | None:
        element = block.get("element") or {}
        kind = element.get("type")
        hint = (block.get("hint") or {}).get("text")
        if hint:
            self._say(f"  ({mrkdwn_to_text(hint)})")
        if kind in ("static_select", "radio_buttons"):
            return self._choose(block, element)
        if kind == "conversations_select":
            return self._channel(block)
        answer = self._read(f"  {_label(block)}: ")
        if answer is None or answer.strip().lower() in CANCEL_WORDS:
            return None
        return answer

    def _choose(self, block: dict[str, Any], element: dict[str, Any]) -> str | None:
        options = element.get("options") or []
        labels = [str((o.get("text") or {}).get("text", "")) for o in options]
        initial = element.get("initial_option") or {}
        default = str((initial.get("text") or {}).get("text", ""))
        self._say(f"  choices: {', '.join(labels)}")
        while True:
            shown_default = f" [{default}]" if default else ""
            answer = self._read(f"  {_label(block)}{shown_default}: ")
            if answer is None or answer.strip().lower() in CANCEL_WORDS:
                return None
            typed = answer.strip().lower()
            if not typed and initial:
                return str(initial.get("value"))
            for option, label in zip(options, labels, strict=True):
                if typed in (label.lower(), str(option.get("value", "")).lower()):
                    return str(option.get("value"))
            self._say(f"  `{answer.strip()}` is not one of the choices; type one of: {', '.join(labels)}")

    def _channel(self, block: dict[str, Any]) -> str | None:
        by_name = {name.lower(): channel for channel, name in CHANNEL_NAMES.items()}
        default = CHANNEL_NAMES.get(self._current_channel, self._current_channel)
        shown_default = f" [{default}]" if default else ""
        answer = self._read(f"  {_label(block)} (#name or channel ID){shown_default}: ")
        if answer is None or answer.strip().lower() in CANCEL_WORDS:
            return None
        typed = answer.strip()
        if not typed:
            return self._current_channel
        return by_name.get(typed.lower(), typed.lstrip("#").upper())


def _label(block: dict[str, Any]) -> str:
    return str((block.get("label") or {}).get("text", block.get("block_id", "")))


def _errors(response: httpx.Response) -> dict[str, str]:
    if not response.content:
        return {}
    try:
        answer = response.json()
    except ValueError:
        return {}
    if not isinstance(answer, dict) or answer.get("response_action") != "errors":
        return {}
    return {str(key): str(value) for key, value in (answer.get("errors") or {}).items()}
