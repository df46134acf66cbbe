"""A simulated Slack Web API: the methods recording-bot calls, plus `response_url` endpoints."""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from bot.sandbox.simulators.base import RecordedRequest, Reply, SimulatedServer
from bot.sandbox.simulators.block_kit import message_problems, view_problems
from bot.sandbox.simulators.slack_calls import SlackCall, UploadedFile, blocks_of, call_of, json_field

__all__ = ["SimulatedSlack", "SlackCall", "UploadedFile"]


# A trigger ID is good for about 3 seconds after Slack issues it, and once.
TRIGGER_LIFETIME_SECONDS = 3.0
AUTHORIZE_PATH = "/oauth/v2/authorize"


@dataclass
class IssuedToken:
    """A bot token the simulated Slack knows: whose it is, and until when it works (None: until revoked)."""

    team_id: str
    enterprise_id: str | None = None
    expires_at: float | None = None
    revoked: bool = False
    bot_user_id: str = "UBOT"


@dataclass(frozen=True)
class Installer:
    """Who installs the app on the simulated authorize page, and where (a workspace, or org-wide)."""

    team_id: str
    user_id: str
    team_name: str = ""
    enterprise_id: str | None = None
    enterprise_name: str = ""
    org_wide: bool = False


class SimulatedSlack(SimulatedServer):
    """Answers `auth.test`, `chat.postMessage`, `chat.update`, `chat.getPermalink`, `chat.postEphemeral`,
    `conversations.open`, `views.open`, `views.publish`, `users.info` and `response_url` posts the way Slack
    does, and remembers each message, open modal and published Home so tests can read their latest state.
    Files are uploaded as `files_upload_v2` does (`files.getUploadURLExternal`, a POST of the bytes to the
    upload URL it gives, `files.completeUploadExternal`) and kept in `uploads()`; `conversations.history`
    reads a channel's messages back, newest first.
    `api_url` is what SLACK_API_URL should be set to; `response_url()` makes a fresh response URL on this
    server. `emails` maps user IDs to the e-mail `users.info` shows (with scope users:read.email)."""

    def __init__(
        self,
        *,
        bot_token: str,
        team_id: str,
        bot_user_id: str = "UBOT",
        app_token: str = "",
        socket_mode_url: str = "",
        port: int = 0,
        validate_block_kit: bool = True,
    ) -> None:
        super().__init__(port=port)
        self.bot_token = bot_token
        # Refuse invalid Block Kit as Slack does (the tests rely on it); bench/ turns it off, since on this
        # machine the check's CPU would compete with the server it measures, which Slack's own never does.
        self.validate_block_kit = validate_block_kit
        self.app_token = app_token
        # Where apps.connections.open sends a Socket Mode app (see SimulatedSocketMode).
        self.socket_mode_url = socket_mode_url
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self._state_lock = threading.Lock()
        self._ts = itertools.count(1)
        self._hook_ids = itertools.count(1)
        self._messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._faults: dict[str, deque[Reply]] = {}
        self._late: dict[str, deque[float]] = {}
        self.unreachable_channels: set[str] = set()
        self.emails: dict[str, str] = {}
        # Every message or view refused because it breaks Block Kit's rules: (method, problems).
        self.block_kit_violations: list[tuple[str, list[str]]] = []
        self._view_ids = itertools.count(1)
        self._used_triggers: set[str] = set()
        self._modals: list[dict[str, Any]] = []
        self._homes: dict[str, dict[str, Any]] = {}
        # Every bot token the simulated Slack accepts: the configured one, and each one an install issued.
        self.tokens: dict[str, IssuedToken] = {bot_token: IssuedToken(team_id=team_id, bot_user_id=bot_user_id)}
        # Installable mode (Slack's OAuth install): the app's credentials, where the authorize page sends the
        # browser back (the app's configured redirect URL), who installs next, and token rotation's lifetime
        # (None: tokens that never expire).
        self.client_id = ""
        self.client_secret = ""
        self.redirect_url = ""
        self.installer = Installer(team_id=team_id, user_id="UINSTALLER", team_name="Example")
        self.rotation_seconds: int | None = None
        self._codes: dict[str, Installer] = {}
        self._refresh_tokens: dict[str, str] = {}
        self._issued = itertools.count(1)
        self._file_ids = itertools.count(1)
        # Upload URLs handed out and not yet completed: file ID → (filename, announced length, bytes or None).
        self._pending_files: dict[str, tuple[str, int, bytes | None]] = {}
        self._uploads: list[UploadedFile] = []
        # Enterprise Grid: per organisation, the workspaces its org admin added the app to (auth.teams.list).
        self.org_workspaces: dict[str, list[str]] = {}

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self) -> str:
        return f"{self.url}/response/{next(self._hook_ids)}"

    @property
    def authorize_url(self) -> str:
        """What SLACK_OAUTH_AUTHORIZE_URL should be set to."""
        return f"{self.url}{AUTHORIZE_PATH}"

    def expire(self, token: str) -> None:
        """Make a token stop working now, as an expired rotating token does (`token_expired`)."""
        with self._state_lock:
            self.tokens[token].expires_at = time.time() - 1

    def make_org_wide(self, enterprise_id: str, workspaces: list[str]) -> None:
        """Make the configured bot token an org-wide install's (Enterprise Grid), in the organisation's
        `workspaces` (what the org admin added the app to, as auth.teams.list lists them)."""
        with self._state_lock:
            self.tokens[self.bot_token] = IssuedToken(team_id="", enterprise_id=enterprise_id,
                                                      bot_user_id=self.bot_user_id)  # fmt: skip
            self.org_workspaces[enterprise_id] = list(workspaces)

    def tokens_of(self, team_id: str) -> list[str]:
        """The bot tokens issued for a workspace (or an organisation), oldest first."""
        with self._state_lock:
            return [t for t, issued in self.tokens.items() if team_id in (issued.team_id, issued.enterprise_id)]

    # -- fault injection -------------------------------------------------------------------------

    def fail_next(self, method: str, reply: Reply, *, times: int = 1) -> None:
        """Answer the next `times` calls of `method` (`response_url` for hooks) with `reply`."""
        with self._state_lock:
            self._faults.setdefault(method, deque()).extend([reply] * times)

    def answer_late(self, method: str, delay_seconds: float, *, times: int = 1) -> None:
        """Carry out the next `times` calls of `method` at once (a message is posted the moment it arrives) but
        answer each only after `delay_seconds`, as a slow Slack does."""
        with self._state_lock:
            self._late.setdefault(method, deque()).extend([delay_seconds] * times)

    def _take_late(self, method: str) -> float:
        with self._state_lock:
            queue = self._late.get(method)
            return queue.popleft() if queue else 0.0

    def _take_fault(self, method: str) -> Reply | None:
        with self._state_lock:
            queue = self._faults.get(method)
            return queue.popleft() if queue else None

    # -- what the bot did ------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[SlackCall]:
        found = []
        for request in self.requests:
            call = call_of(request)
            if call is not None and (method is None or call.method == method):
                found.append(call)
        return found

    def wait_for_call(
        self, method: str, *, containing: str = "", count: int = 1, timeout: float = 5.0
    ) -> list[SlackCall]:
        """Poll (with a bound) until `count` calls of `method` whose rendered text contains `containing`."""

        def matches(request: RecordedRequest) -> bool:
            call = call_of(request)
            return call is not None and call.method == method and containing in call.rendered

        requests = self.wait_for(matches, count=count, timeout=timeout)
        return [c for c in (call_of(r) for r in requests) if c is not None]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The current state of a posted message (after any chat.update)."""
        with self._state_lock:
            found = self._messages.get((channel, ts))
            return dict(found) if found else None

    def messages(self) -> list[dict[str, Any]]:
        with self._state_lock:
            return [dict(m) for m in self._messages.values()]

    def modals(self) -> list[dict[str, Any]]:
        """Every modal opened so far, oldest first, each with the `id` Slack gave it."""
        with self._state_lock:
            return [dict(view) for view in self._modals]

    def home(self, user_id: str) -> dict[str, Any] | None:
        """The Home view last published for `user_id`."""
        with self._state_lock:
            found = self._homes.get(user_id)
            return dict(found) if found else None

    def uploads(self) -> list[UploadedFile]:
        """Every file shared in a channel so far (upload completed), oldest first."""
        with self._state_lock:
            return list(self._uploads)

    # -- the protocol ----------------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> Reply:
        if request.path == AUTHORIZE_PATH:
            return self._authorize_page(request)
        if request.path.startswith("/upload/"):
            return self._receive_upload(request)
        call = call_of(request)
        if call is None:
            return Reply(status=404, body="not found", content_type="text/plain")
        fault = self._take_fault(call.method)
        if fault is not None:
            return fault
        problems = self._block_kit_problems(call) if self.validate_block_kit else []
        if problems:
            with self._state_lock:
                self.block_kit_violations.append((call.method, problems))
            if call.method == "response_url":
                return Reply(status=400, body="invalid_blocks", content_type="text/plain")
            return Reply(body=json.dumps({"ok": False, "error": "invalid_blocks", "errors": problems}))
        if call.method == "response_url":
            # Slack answers response_url posts with a bare "ok".
            return Reply(body="ok", content_type="text/plain")
        if call.method == "apps.connections.open":
            # The one method called with the app-level token rather than the bot token.
            if request.headers.get("authorization") != f"Bearer {self.app_token}":
                return _ok_false("invalid_auth")
            return _ok(url=self.socket_mode_url) if self.socket_mode_url else _ok_false("not_allowed_token_type")
        if call.method == "oauth.v2.access":
            return self._oauth_v2_access(request, call.payload)
        problem = self._token_problem(call.token)
        if problem:
            return _ok_false(problem)
        if call.method == "auth.test":
            return self._auth_test_of(call.token)
        if call.method == "auth.teams.list":
            return self._auth_teams_list_of(call.token)
        handler = getattr(self, "_" + call.method.replace(".", "_"), None)
        if handler is None:
            return _ok_false("unknown_method")
        result: Reply = handler(call.payload)
        late = self._take_late(call.method)
        return replace(result, delay_seconds=late) if late else result

    @staticmethod
    def _block_kit_problems(call: SlackCall) -> list[str]:
        if call.method in ("views.open", "views.publish", "views.update", "views.push"):
            return view_problems(call.payload.get("view"))
        if call.method in ("chat.postMessage", "chat.update", "chat.postEphemeral", "response_url"):
            return message_problems(call.payload)
        return []

    def _token_problem(self, token: str) -> str:
        with self._state_lock:
            issued = self.tokens.get(token)
            if issued is None or issued.revoked:
                return "invalid_auth"
            if issued.expires_at is not None and issued.expires_at <= time.time():
                return "token_expired"
        return ""

    def _auth_test_of(self, token: str) -> Reply:
        with self._state_lock:
            issued = self.tokens[token]
        org_wide = issued.team_id == "" and issued.enterprise_id is not None
        return _ok(
            url="https://example.slack.com/",
            team="Example",
            user="recording-bot",
            team_id=issued.team_id or None,
            user_id=issued.bot_user_id,
            bot_id="B0BOT",
            enterprise_id=issued.enterprise_id,
            is_enterprise_install=org_wide,
        )

    # -- installable mode: the authorize page, oauth.v2.access, token rotation --------------------

    def _authorize_page(self, request: RecordedRequest) -> Reply:
        """Slack's authorize page, agreed to at once by `installer`: back to the redirect URL with a code."""
        query = request.query
        if query.get("client_id") != self.client_id or not self.client_id:
            return Reply(status=400, body="invalid client_id", content_type="text/plain")
        back = query.get("redirect_uri") or self.redirect_url
        state = query.get("state", "")
        code = f"code-{next(self._issued)}"
        with self._state_lock:
            self._codes[code] = self.installer
        separator = "&" if "?" in back else "?"
        return Reply(status=302, body="", content_type="text/plain",
                     headers={"Location": f"{back}{separator}{urlencode({'code': code, 'state': state})}"})  # fmt: skip

    def _client_authenticated(self, request: RecordedRequest, payload: dict[str, Any]) -> bool:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return False
        else:
            client_id, secret = str(payload.get("client_id", "")), str(payload.get("client_secret", ""))
        return bool(self.client_id) and client_id == self.client_id and secret == self.client_secret

    def _oauth_v2_access(self, request: RecordedRequest, payload: dict[str, Any]) -> Reply:
        if not self._client_authenticated(request, payload):
            return _ok_false("invalid_client_id")
        if payload.get("grant_type") == "refresh_token":
            return self._refresh(str(payload.get("refresh_token", "")))
        with self._state_lock:
            installer = self._codes.pop(str(payload.get("code", "")), None)
        if installer is None:
            return _ok_false("invalid_code")
        team_id = "" if installer.org_wide else installer.team_id
        token = self._issue(team_id, installer.enterprise_id)
        answer: dict[str, Any] = {
            "access_token": token, "token_type": "bot", "scope": "commands,chat:write", "bot_user_id": self.bot_user_id,
            "app_id": "A0APP",
            "team": None if installer.org_wide else {"id": installer.team_id, "name": installer.team_name},
            "enterprise": (
                {"id": installer.enterprise_id, "name": installer.enterprise_name} if installer.enterprise_id else None
            ),
            "is_enterprise_install": installer.org_wide,
            "authed_user": {"id": installer.user_id},
        }  # fmt: skip
        answer.update(self._rotation_fields(token))
        return _ok(**answer)

    def _refresh(self, refresh_token: str) -> Reply:
        """grant_type=refresh_token: a new token pair; the refresh token used stops working."""
        with self._state_lock:
            old = self._refresh_tokens.pop(refresh_token, None)
            issued = self.tokens.get(old) if old else None
        if issued is None:
            return _ok_false("invalid_refresh_token")
        token = self._issue(issued.team_id, issued.enterprise_id)
        return _ok(access_token=token, token_type="bot", **self._rotation_fields(token))  # noqa: S106

    def _issue(self, team_id: str, enterprise_id: str | None) -> str:
        prefix = "xoxe.xoxb-" if self.rotation_seconds is not None else "xoxb-"
        token = f"{prefix}{team_id or enterprise_id}-{next(self._issued)}-{secrets.token_hex(6)}"
        expires = time.time() + self.rotation_seconds if self.rotation_seconds is not None else None
        with self._state_lock:
            self.tokens[token] = IssuedToken(team_id=team_id, enterprise_id=enterprise_id, expires_at=expires,
                                             bot_user_id=self.bot_user_id)  # fmt: skip
        return token

    def _rotation_fields(self, token: str) -> dict[str, Any]:
        if self.rotation_seconds is None:
            return {}
        refresh = f"xoxe-1-{secrets.token_hex(8)}"
        with self._state_lock:
            self._refresh_tokens[refresh] = token
        return {"refresh_token": refresh, "expires_in": self.rotation_seconds}

    def _auth_teams_list_of(self, token: str) -> Reply:
        """The workspaces an org-wide install's token may act in (one page: the tests' orgs are small)."""
        with self._state_lock:
            issued = self.tokens[token]
            org_wide = issued.team_id == "" and issued.enterprise_id is not None
            teams = list(self.org_workspaces.get(issued.enterprise_id or "", [])) if org_wide else []
        if not org_wide:
            return _ok_false("not_allowed_token_type")
        return _ok(teams=[{"id": team, "name": team} for team in teams], response_metadata={"next_cursor": ""})

    def _chat_postMessage(self, payload: dict[str, Any]) -> Reply:  # noqa: N802
        channel = str(payload.get("channel", ""))
        if not channel:
            return _ok_false("channel_not_found")
        if channel in self.unreachable_channels:
            return _ok_false("not_in_channel")
        if not payload.get("text") and not payload.get("blocks"):
            return _ok_false("no_text")
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        message = {"channel": channel, "ts": ts, "text": payload.get("text", ""), "blocks": blocks_of(payload)}
        with self._state_lock:
            self._messages[(channel, ts)] = message
        return _ok(channel=channel, ts=ts, message={"text": message["text"], "ts": ts})

    def _chat_update(self, payload: dict[str, Any]) -> Reply:
        key = (str(payload.get("channel", "")), str(payload.get("ts", "")))
        with self._state_lock:
            message = self._messages.get(key)
            if message is None:
                return _ok_false("message_not_found")
            message.update(text=payload.get("text", ""), blocks=blocks_of(payload))
        return _ok(channel=key[0], ts=key[1], text=payload.get("text", ""))

    def _chat_getPermalink(self, payload: dict[str, Any]) -> Reply:  # noqa: N802
        key = (str(payload.get("channel", "")), str(payload.get("message_ts", "")))
        with self._state_lock:
            if key not in self._messages:
                return _ok_false("message_not_found")
        permalink = f"https://example.slack.com/archives/{key[0]}/p{key[1].replace('.', '')}"
        return _ok(channel=key[0], permalink=permalink)

    def _chat_postEphemeral(self, payload: dict[str, Any]) -> Reply:  # noqa: N802
        if not payload.get("channel") or not payload.get("user"):
            return _ok_false("channel_not_found" if not payload.get("channel") else "user_not_in_channel")
        return _ok(message_ts=f"{int(time.time())}.{next(self._ts):06d}")

    def _views_open(self, payload: dict[str, Any]) -> Reply:
        trigger = str(payload.get("trigger_id", ""))
        view = json_field(payload.get("view"))
        if not trigger:
            return _ok_false("invalid_arguments")
        if not isinstance(view, dict) or view.get("type") != "modal":
            return _ok_false("invalid_arguments")
        issued = trigger.split(".", 1)[0]
        with self._state_lock:
            if trigger in self._used_triggers:
                return _ok_false("invalid_trigger_id")
            if issued.isdigit() and time.time() - int(issued) > TRIGGER_LIFETIME_SECONDS + 1:
                return _ok_false("expired_trigger_id")
            self._used_triggers.add(trigger)
            opened = {**view, "id": f"V{next(self._view_ids):08d}"}
            self._modals.append(opened)
        return _ok(view=opened)

    def _views_publish(self, payload: dict[str, Any]) -> Reply:
        user_id = str(payload.get("user_id", ""))
        view = json_field(payload.get("view"))
        if not user_id:
            return _ok_false("invalid_arguments")
        if not isinstance(view, dict) or view.get("type") != "home":
            return _ok_false("invalid_arguments")
        if len(view.get("blocks") or []) > 100:
            return _ok_false("invalid_blocks")
        with self._state_lock:
            previous = self._homes.get(user_id)
            published = {**view, "id": previous["id"] if previous else f"V{next(self._view_ids):08d}"}
            self._homes[user_id] = published
        return _ok(view=published)

    def _users_info(self, payload: dict[str, Any]) -> Reply:
        user_id = str(payload.get("user", ""))
        if not user_id:
            return _ok_false("user_not_found")
        profile: dict[str, Any] = {"real_name": user_id, "display_name": user_id}
        if user_id in self.emails:
            profile["email"] = self.emails[user_id]
        return _ok(user={"id": user_id, "team_id": self.team_id, "is_bot": False, "profile": profile})

    def _conversations_open(self, payload: dict[str, Any]) -> Reply:
        users = str(payload.get("users", ""))
        if not users:
            return _ok_false("users_list_not_supplied")
        return _ok(channel={"id": "D" + users.split(",")[0].lstrip("UW")})


    # -- files (what files_upload_v2 does) --------------------------------------------------------

    def _files_getUploadURLExternal(self, payload: dict[str, Any]) -> Reply:  # noqa: N802
        filename = str(payload.get("filename") or "")
        length = str(payload.get("length") or "")
        if not filename or not length.isdigit():
            return _ok_false("invalid_arguments")
        file_id = f"F{next(self._file_ids):08d}"
        with self._state_lock:
            self._pending_files[file_id] = (filename, int(length), None)
        return _ok(upload_url=f"{self.url}/upload/{file_id}", file_id=file_id)

    def _receive_upload(self, request: RecordedRequest) -> Reply:
        fault = self._take_fault("upload")
        if fault is not None:
            return fault
        file_id = request.path.removeprefix("/upload/")
        with self._state_lock:
            pending = self._pending_files.get(file_id)
            if pending is None or request.method != "POST":
                return Reply(status=404, body="not found", content_type="text/plain")
            filename, length, _ = pending
            if len(request.body) != length:
                return Reply(status=400, body="length mismatch", content_type="text/plain")
            self._pending_files[file_id] = (filename, length, request.body)
        return Reply(body=f"OK - {length}", content_type="text/plain")

    def _files_completeUploadExternal(self, payload: dict[str, Any]) -> Reply:  # noqa: N802
        files = json_field(payload.get("files"))
        channel = str(payload.get("channel_id") or "")
        if not isinstance(files, list) or not files:
            return _ok_false("invalid_arguments")
        if channel in self.unreachable_channels:
            return _ok_false("not_in_channel")
        shared = []
        with self._state_lock:
            for item in files:
                file_id = str(item.get("id", "")) if isinstance(item, dict) else ""
                pending = self._pending_files.get(file_id)
                if pending is None or pending[2] is None:
                    return _ok_false("file_not_found")
            for item in files:
                file_id = str(item["id"])
                filename, _, content = self._pending_files.pop(file_id)
                assert content is not None
                uploaded = UploadedFile(
                    file_id=file_id, filename=filename, title=str(item.get("title") or filename), content=content,
                    channel=channel, thread_ts=str(payload.get("thread_ts") or ""),
                    initial_comment=str(payload.get("initial_comment") or ""),
                )  # fmt: skip
                self._uploads.append(uploaded)
                shared.append(
                    {"id": file_id, "name": filename, "title": uploaded.title, "size": len(content),
                     "channels": [channel] if channel else []}
                )  # fmt: skip
        return _ok(files=shared)

    def _conversations_history(self, payload: dict[str, Any]) -> Reply:
        channel = str(payload.get("channel") or "")
        if not channel:
            return _ok_false("channel_not_found")
        if channel in self.unreachable_channels:
            return _ok_false("not_in_channel")
        oldest, latest = float(payload.get("oldest") or 0), float(payload.get("latest") or 0)
        limit = max(1, min(int(str(payload.get("limit") or 100)), 999))
        offset = int(str(payload.get("cursor") or "0") or 0)
        with self._state_lock:
            found = [
                {"type": "message", "ts": m["ts"], "text": m["text"], "blocks": m["blocks"]}
                for (where, _), m in self._messages.items()
                if where == channel and float(m["ts"]) >= oldest and (not latest or float(m["ts"]) <= latest)
            ]
        found.sort(key=lambda message: tuple(int(part) for part in str(message["ts"]).split(".")), reverse=True)
        page = found[offset : offset + limit]
        more = offset + limit < len(found)
        return _ok(
            messages=page, has_more=more, response_metadata={"next_cursor": str(offset + limit) if more else ""}
        )


def _ok(**fields: Any) -> Reply:
    return Reply(body=json.dumps({"ok": True, **fields}))


def _ok_false(error: str) -> Reply:
    return Reply(body=json.dumps({"ok": False, "error": error}))
