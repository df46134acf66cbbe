"""A simulated Slack Web API: the methods recording-bot calls, plus `response_url` endpoints."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from bot.sandbox.simulators.base import RecordedRequest, Reply, SimulatedServer
from bot.sandbox.simulators.block_kit import message_problems, view_problems


@dataclass(frozen=True)
class UploadedFile:
    """A file uploaded the way `files_upload_v2` does it (URL, bytes, completion), and where it was shared."""

    file_id: str
    filename: str
    title: str
    content: bytes
    channel: str
    thread_ts: str
    initial_comment: str


@dataclass(frozen=True)
class SlackCall:
    """One call the bot made: a Web API method (`chat.update`) or `response_url` for a response URL post."""

    method: str
    payload: dict[str, Any]
    at: float

    @property
    def text(self) -> str:
        return str(self.payload.get("text", ""))

    @property
    def blocks(self) -> list[dict[str, Any]]:
        """A message's blocks, or a view's (views.open, views.publish)."""
        view = self.payload.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        blocks = self.payload.get("blocks") or (view.get("blocks") if isinstance(view, dict) else None) or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        return list(blocks)

    @property
    def rendered(self) -> str:
        """Text and every string inside the blocks, for 'does the message say X' assertions."""
        return self.text + "\n" + "\n".join(_strings(self.blocks))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() if key not in ("type", "block_id") for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


# A trigger ID is good for about 3 seconds after Slack issues it, and once.
TRIGGER_LIFETIME_SECONDS = 3.0


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
        self.unreachable_channels: set[str] = set()
        self.emails: dict[str, str] = {}
        # Every message or view refused because it breaks Block Kit's rules: (method, problems).
        self.block_kit_violations: list[tuple[str, list[str]]] = []
        self._view_ids = itertools.count(1)
        self._used_triggers: set[str] = set()
        self._modals: list[dict[str, Any]] = []
        self._homes: dict[str, dict[str, Any]] = {}
        self._file_ids = itertools.count(1)
        # Upload URLs handed out and not yet completed: file ID → (filename, announced length, bytes or None).
        self._pending_files: dict[str, tuple[str, int, bytes | None]] = {}
        self._uploads: list[UploadedFile] = []

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self) -> str:
        return f"{self.url}/response/{next(self._hook_ids)}"

    # -- fault injection -------------------------------------------------------------------------

    def fail_next(self, method: str, reply: Reply, *, times: int = 1) -> None:
        """Answer the next `times` calls of `method` (`response_url` for hooks) with `reply`."""
        with self._state_lock:
            self._faults.setdefault(method, deque()).extend([reply] * times)

    def _take_fault(self, method: str) -> Reply | None:
        with self._state_lock:
            queue = self._faults.get(method)
            return queue.popleft() if queue else None

    # -- what the bot did ------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[SlackCall]:
        found = []
        for request in self.requests:
            call = _to_call(request)
            if call is not None and (method is None or call.method == method):
                found.append(call)
        return found

    def wait_for_call(
        self, method: str, *, containing: str = "", count: int = 1, timeout: float = 5.0
    ) -> list[SlackCall]:
        """Poll (with a bound) until `count` calls of `method` whose rendered text contains `containing`."""

        def matches(request: RecordedRequest) -> bool:
            call = _to_call(request)
            return call is not None and call.method == method and containing in call.rendered

        requests = self.wait_for(matches, count=count, timeout=timeout)
        return [c for c in (_to_call(r) for r in requests) if c is not None]

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
        if request.path.startswith("/upload/"):
            return self._receive_upload(request)
        call = _to_call(request)
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
        if request.headers.get("authorization") != f"Bearer {self.bot_token}":
            return _ok_false("invalid_auth")
        handler = getattr(self, "_" + call.method.replace(".", "_"), None)
        if handler is None:
            return _ok_false("unknown_method")
        result: Reply = handler(call.payload)
        return result

    @staticmethod
    def _block_kit_problems(call: SlackCall) -> list[str]:
        if call.method in ("views.open", "views.publish", "views.update", "views.push"):
            return view_problems(call.payload.get("view"))
        if call.method in ("chat.postMessage", "chat.update", "chat.postEphemeral", "response_url"):
            return message_problems(call.payload)
        return []

    def _auth_test(self, payload: dict[str, Any]) -> Reply:
        return _ok(
            url="https://example.slack.com/",
            team="Example",
            user="recording-bot",
            team_id=self.team_id,
            user_id=self.bot_user_id,
            bot_id="B0BOT",
            is_enterprise_install=False,
        )

    def _chat_postMessage(self, payload: dict[str, Any]) -> Reply:  # noqa: N802
        channel = str(payload.get("channel", ""))
        if not channel:
            return _ok_false("channel_not_found")
        if channel in self.unreachable_channels:
            return _ok_false("not_in_channel")
        if not payload.get("text") and not payload.get("blocks"):
            return _ok_false("no_text")
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        message = {"channel": channel, "ts": ts, "text": payload.get("text", ""), "blocks": _blocks(payload)}
        with self._state_lock:
            self._messages[(channel, ts)] = message
        return _ok(channel=channel, ts=ts, message={"text": message["text"], "ts": ts})

    def _chat_update(self, payload: dict[str, Any]) -> Reply:
        key = (str(payload.get("channel", "")), str(payload.get("ts", "")))
        with self._state_lock:
            message = self._messages.get(key)
            if message is None:
                return _ok_false("message_not_found")
            message.update(text=payload.get("text", ""), blocks=_blocks(payload))
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
        view = _json_field(payload.get("view"))
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
        view = _json_field(payload.get("view"))
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
        files = _json_field(payload.get("files"))
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


def _to_call(request: RecordedRequest) -> SlackCall | None:
    if request.path.startswith("/response/"):
        method = "response_url"
    elif request.path.startswith("/api/"):
        method = request.path.removeprefix("/api/")
    else:
        return None
    content_type = request.headers.get("content-type", "")
    payload: dict[str, Any]
    if "json" in content_type:
        try:
            payload = json.loads(request.body or b"{}")
        except ValueError:
            payload = {}
    else:
        payload = dict(request.params)
    return SlackCall(method=method, payload=payload, at=request.at)


def _blocks(payload: dict[str, Any]) -> list[Any]:
    blocks = payload.get("blocks") or []
    return json.loads(blocks) if isinstance(blocks, str) else list(blocks)


def _json_field(value: Any) -> Any:
    """A field sent either as JSON inside a form field or as a JSON value."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _ok(**fields: Any) -> Reply:
    return Reply(body=json.dumps({"ok": True, **fields}))


def _ok_false(error: str) -> Reply:
    return Reply(body=json.dumps({"ok": False, "error": error}))
