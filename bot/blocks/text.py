"""Escaping for Slack mrkdwn: user and upstream text must never ping, link or format."""

from __future__ import annotations


def escape(text: str) -> str:
    """Escape `&`, `<`, `>` as Slack requires, so `<!channel>` or `<http://x|y>` stay literal text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
