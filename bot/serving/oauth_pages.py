"""Installable mode's two pages, GET /slack/install and GET /slack/oauth_redirect, answered by Bolt's OAuth
flow (state, oauth.v2.access, the stored installation); whatever fails shows a page, never a traceback."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from slack_bolt import BoltRequest
from slack_bolt.oauth import OAuthFlow

from bot.blocks.install_pages import install_failed_page

logger = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
PAGE_PATHS = (INSTALL_PATH, REDIRECT_PATH)

# (HTTP status, headers, body) of a page.
Page = tuple[int, list[tuple[str, str]], bytes]


class OAuthPages:
    def __init__(self, flow: OAuthFlow) -> None:
        self._flow = flow

    def page(self, path: str, query: str, headers: Mapping[str, str]) -> Page:
        try:
            request = BoltRequest(body="", query=query, headers=dict(headers), mode="http")
            if path == INSTALL_PATH:
                response = self._flow.handle_installation(request)
            elif path == REDIRECT_PATH:
                response = self._flow.handle_callback(request)
            else:
                return 404, [("Content-Type", "text/plain")], b"not found"
        except Exception:
            logger.exception("the install page %s failed", path)
            return 500, [("Content-Type", "text/html; charset=utf-8")], install_failed_page("internal_error").encode()
        listed = [(name, str(value)) for name, values in response.headers.items() for value in values]
        return response.status, listed, response.body.encode()
