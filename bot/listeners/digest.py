"""The digest on Slack: posted as a message, its chart (drawn in a child process) and its audit rows (CSV)
uploaded in the message's thread with `files_upload_v2`; and the chain heads read back from the digest
channel's history (`recording-bot audit --verify --anchors-from-slack`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.blocks.audit_csv import audit_csv
from bot.blocks.digest import anchors_in, digest_message
from bot.chart import ChartFailed, draw_chart
from bot.listeners.installations import NotInstalled, SlackClients, as_clients
from bot.models import AuditEntry
from bot.models.digest import ChartSeries, Digest, DigestDelivery
from bot.models.refusals import DigestNotPosted

logger = logging.getLogger(__name__)

# Slack answers these with errors of their own, and slack_sdk lets a bad JSON answer out as ValueError.
_SLACK_FAILURES = (SlackApiError, SlackClientError, OSError, ValueError, KeyError, TypeError)
# conversations.history pages read at most (200 messages each) when looking for digests.
MAX_HISTORY_PAGES = 50


class SlackHistoryUnreadable(Exception):
    """The digest channel's history could not be read; the message says why in a few words."""


class SlackDigestPublisher:
    """Implements services/digest.py's DigestPublisher for Slack: with SLACK_BOT_TOKEN's client, or in
    installable mode with each installation's own (`scope`'s token, refreshed before use)."""

    def __init__(
        self, *, client: WebClient | SlackClients, draw: Callable[[ChartSeries], bytes] = draw_chart
    ) -> None:
        self._clients = as_clients(client)
        self._draw = draw

    def publish(self, digest: Digest, rows: list[AuditEntry], *, channel: str, scope: str = "") -> DigestDelivery:
        try:
            client = self._clients.for_team(scope)
        except _SLACK_FAILURES as error:
            raise DigestNotPosted(_why(error)) from None
        return self._publish(client, digest, rows, channel=channel)

    def _publish(self, client: WebClient, digest: Digest, rows: list[AuditEntry], *, channel: str) -> DigestDelivery:
        problems: list[str] = []
        files: list[dict[str, Any]] = []
        day = digest.period.day.isoformat()
        try:
            png = self._draw(digest.chart)
            files.append({"content": png, "filename": f"digest-{day}.png", "title": f"Paused minutes per hour, {day}"})
        except ChartFailed as error:
            logger.warning("digest %s: the chart was not drawn: %s", day, error)
            problems.append(f"The chart was not drawn: {error}.")
        files.append({"content": audit_csv(rows), "filename": f"audit-{day}.csv", "title": f"Audit rows, {day}"})
        chart = "the chart and " if len(files) == 2 else ""
        note = f"In the thread: {chart}the period's {len(rows)} audit row(s) as CSV."
        message = digest_message(digest, problems=problems, files_note=note)
        try:
            posted = client.chat_postMessage(channel=channel, text=message.text, blocks=message.blocks)
        except _SLACK_FAILURES as error:
            raise DigestNotPosted(_why(error)) from None
        ts = str(posted.get("ts", ""))
        posted_channel = str(posted.get("channel", channel))
        try:
            client.files_upload_v2(
                file_uploads=files, channel=posted_channel, thread_ts=ts,
                initial_comment=f"Chart and audit rows of the digest of {day}",
            )  # fmt: skip
        except _SLACK_FAILURES as error:
            logger.warning("digest %s: the files were not uploaded: %s", day, _why(error))
            problems.append(f"The chart and the CSV were not uploaded: {_why(error)}.")
            message = digest_message(digest, problems=problems)
            try:
                client.chat_update(channel=posted_channel, ts=ts, text=message.text, blocks=message.blocks)
            except _SLACK_FAILURES as update_error:
                logger.warning("digest %s: could not say so in the message: %s", day, _why(update_error))
        return DigestDelivery(channel=posted_channel, ts=ts, problems=tuple(problems))


def anchors_from_channel(client: WebClient, channel: str) -> list[str]:
    """Every chain head the digests in `channel` name (`TEAM:SEQ:HASH`), each once; raises
    SlackHistoryUnreadable."""
    found: list[str] = []
    cursor: str | None = None
    for _ in range(MAX_HISTORY_PAGES):
        try:
            page = client.conversations_history(channel=channel, limit=200, cursor=cursor)
        except _SLACK_FAILURES as error:
            raise SlackHistoryUnreadable(_why(error)) from None
        for message in reversed(list(page.get("messages") or [])):
            for anchor in anchors_in(_message_text(message)):
                if anchor not in found:
                    found.append(anchor)
        cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "") or None
        if not page.get("has_more") or cursor is None:
            break
    return found


def _message_text(message: dict[str, Any]) -> str:
    parts = [str(message.get("text", ""))]

    def strings(value: Any) -> None:
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                strings(item)
        elif isinstance(value, list):
            for item in value:
                strings(item)

    strings(message.get("blocks") or [])
    return "\n".join(parts)


def _why(error: BaseException) -> str:
    if isinstance(error, NotInstalled):
        return str(error)
    if isinstance(error, SlackApiError):
        return f"Slack answered {error.response.get('error', 'an error')}"
    if isinstance(error, SlackClientError | OSError):
        return f"Slack could not be reached ({type(error).__name__})"
    return f"Slack's answer could not be read ({type(error).__name__})"
