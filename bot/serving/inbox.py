"""Nothing acknowledged is lost silently: every command, click and form submission handed over for its work
after the ack is written to the inbox first (store/inbox.py), and removed when its work has ended.

What a killed process left there is taken over once, by the next start or by another instance once the
dead one is known to be dead (the scheduler's takeover step): a resume is carried out again (the safe
direction: resuming twice resumes once at the recording system); anything else is answered through its
response_url (Slack keeps it valid for 30 minutes), saying it was not done, and audited.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from slack_bolt import App, BoltRequest

from bot.action_ids import ACTION_RESUME
from bot.blocks.inbox import FORM_WORDS, click_words, command_words, not_done_message
from bot.blocks.kit import Message
from bot.clock import Clock
from bot.logs import new_request_id, request_context
from bot.models import Invocation, Outcome, SlackUser
from bot.services.audit import AuditTrail
from bot.serving.background import BackgroundWork
from bot.serving.edge import ACKED_AT_EDGE
from bot.store.database import DatabaseUnavailable
from bot.store.inbox import InboxRow, InboxStore

logger = logging.getLogger(__name__)

# Slack keeps a response_url valid this long; an answer to an older request cannot reach anyone.
RESPONSE_URL_LIFETIME = timedelta(minutes=30)
# A request whose handling killed the bot again and again (a payload that exhausts memory) is given up after
# this many takeovers, so that it cannot keep a bot from starting.
MAX_TAKEOVERS = 3

# The most rows one DELETE removes: what ended while the last one ran, at most this many.
REMOVALS_PER_DELETE = 200

# Posts a message to a response_url (serving/response_urls.py's ResponseUrlClient.post).
PostReply = Callable[[str, dict[str, Any]], object]
# Tells a user something directly (a DM): for a form's submission, which has no response_url.
# (workspace, user, message): a private note to the user, with that workspace's token.
TellUser = Callable[[str, str, Message], object]


@dataclass(frozen=True)
class Received:
    """What a stored request was, as far as its takeover needs to know."""

    invocation: Invocation
    action: str  # the audit action its own work would have written (`command.pause`, `click.approve`)
    words: str  # how the person is reminded of it
    resumes: bool
    response_url: str | None


class Inbox:
    """The inbox of one instance. Safe to share between threads."""

    def __init__(
        self,
        *,
        store: InboxStore,
        instance_id: str,
        clock: Clock,
        bolt: App,
        work: BackgroundWork,
        post_reply: PostReply,
        audit: AuditTrail,
        tell_user: TellUser | None = None,
    ) -> None:
        self._store = store
        self._instance_id = instance_id
        self._clock = clock
        self._bolt = bolt
        self._work = work
        self._post = post_reply
        self._audit = audit
        self._tell = tell_user
        # The database's problem now, logged when it starts and when it ends rather than for every request.
        self._problem: str | None = None
        self._problem_lock = threading.Lock()
        # Rows whose work has ended, deleted by a thread of the process's own priority, started here before the
        # work pool's lower-priority threads could start it. A DELETE holds the file's one write lock: on a
        # work thread, preempted mid-DELETE by anything of normal priority, it kept the HTTP front's next
        # INSERT, and so an acknowledgement, waiting for milliseconds (bench/, ack p99 at one client).
        self._ended: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._remover = threading.Thread(target=self._remove_ended, name="inbox-remover", daemon=True)
        self._remover.start()

    # -- the hot path: one INSERT when a request is handed over, one DELETE when its work has ended ----------

    def receive(self, body: str, headers: Mapping[str, str]) -> int | None:
        """Store a request before its work is queued; its entry, or None when the database refused it (the
        work is done all the same, as before there was an inbox: it is just not protected from a kill)."""
        try:
            entry = self._store.add(
                self._instance_id, body=body, content_type=headers.get("content-type", ""), now=self._clock()
            )
        except DatabaseUnavailable as error:
            self._failed(error)
            return None
        self._works()
        return entry

    def finish(self, entry: int | None) -> None:
        """The request's work has ended, whatever its outcome (its listener replied): its row goes."""
        if entry is not None:
            self._ended.put(entry)

    def close(self) -> None:
        """Delete the rows of work that has ended (the work pool has stopped by now), then stop."""
        self._ended.put(None)
        self._remover.join(timeout=10)

    def _remove_ended(self) -> None:
        while True:
            entry = self._ended.get()
            batch: list[int] = []
            while entry is not None:
                batch.append(entry)
                if len(batch) == REMOVALS_PER_DELETE:
                    break
                try:
                    entry = self._ended.get_nowait()
                except queue.Empty:
                    break
            if batch:
                try:
                    self._store.remove_all(batch)
                except DatabaseUnavailable as error:
                    # Left in the inbox: after a restart their people are told they were not done, or a resume
                    # runs twice.
                    self._failed(error)
                else:
                    self._works()
            if entry is None:
                return

    def _failed(self, error: DatabaseUnavailable) -> None:
        with self._problem_lock:
            known, self._problem = self._problem, str(error)
        if known != str(error):
            logger.warning("the inbox cannot be written (%s): requests are handled, but a kill now loses them",
                           error)  # fmt: skip

    def _works(self) -> None:
        if self._problem is None:
            return
        with self._problem_lock:
            known, self._problem = self._problem, None
        if known is not None:
            logger.info("the inbox can be written again")

    # -- takeover ----------------------------------------------------------------------------------------------

    def take_over(self, live: list[str]) -> int:
        """Claim what instances not in `live` left unfinished, and finish it (on the pool, or here when the
        pool is full); how many requests were claimed."""
        rows = self._store.claim_orphans(self._instance_id, live)
        if rows:
            logger.warning("taking over %d request(s) acknowledged by a bot that stopped before finishing them",
                           len(rows))  # fmt: skip
        for row in rows:
            if not self._work.submit(lambda row=row: self._take_over_one(row)):  # type: ignore[misc]
                self._take_over_one(row)
        return len(rows)

    def _take_over_one(self, row: InboxRow) -> None:
        with request_context(new_request_id()):
            try:
                self._handle(row)
            except Exception:
                logger.exception("could not finish request %s left by a stopped bot", row.id)
            finally:
                self.finish(row.id)

    def _handle(self, row: InboxRow) -> None:
        received = read_request(row.body, request_id=new_request_id())
        if received is None:
            logger.warning("request %s left by a stopped bot cannot be read; dropped", row.id)
            return
        age = self._clock() - row.received_at
        if received.resumes and row.takeovers <= MAX_TAKEOVERS:
            # Carried out again, however old: a person believes their recording resumed.
            logger.info("carrying out again a resume from %s that a stopped bot acknowledged (%s)",
                        received.invocation.user_id, received.action)  # fmt: skip
            headers: dict[str, str | Sequence[str]] = {"content-type": row.content_type} if row.content_type else {}
            self._bolt.dispatch(BoltRequest(body=row.body, headers=headers, context={ACKED_AT_EDGE: True}))
            return
        if row.takeovers > MAX_TAKEOVERS:
            self._unanswered(received, row, why=f"it was taken over {row.takeovers} times and never finished")
            return
        if age > RESPONSE_URL_LIFETIME:
            self._unanswered(received, row, why="it is older than Slack keeps its response_url")
            return
        message = not_done_message(received.words, row.received_at)
        answered = self._answer(received, message)
        self._record(received, row, answered=answered)

    def _answer(self, received: Received, message: Message) -> bool:
        if received.response_url:
            try:
                self._post(received.response_url, {"response_type": "ephemeral", "replace_original": False,
                                                   "text": message.text, "blocks": message.blocks})  # fmt: skip
                return True
            except Exception as error:
                logger.warning("could not tell %s that their request was not done (%s)",
                               received.invocation.user_id, type(error).__name__)  # fmt: skip
                return False
        if self._tell is not None and received.invocation.user_id:
            try:
                self._tell(received.invocation.team_id, received.invocation.user_id, message)
                return True
            except Exception as error:
                logger.warning("could not tell %s that their form was not done (%s)",
                               received.invocation.user_id, type(error).__name__)  # fmt: skip
        return False

    def _unanswered(self, received: Received, row: InboxRow, *, why: str) -> None:
        logger.warning("request from %s (%s) left by a stopped bot at %s cannot be answered: %s",
                       received.invocation.user_id, received.action, row.received_at, why)  # fmt: skip
        self._record(received, row, answered=False, why=why)

    def _record(self, received: Received, row: InboxRow, *, answered: bool, why: str = "") -> None:
        details: dict[str, Any] = {
            "error": "not done: recording-bot stopped before finishing it",
            "received_at": row.received_at.isoformat(timespec="seconds"),
            "told": answered,
        }
        if why:
            details["unanswerable"] = why
        try:
            self._audit.record(received.invocation, action=received.action, outcome=Outcome.ERROR, details=details)
        except Exception:
            logger.exception("could not write the audit row for a request a stopped bot left")


def read_request(body: str, *, request_id: str) -> Received | None:
    """What a stored Slack request (a form-encoded body, as Slack sent it) was; None when it cannot be read."""
    try:
        form = parse_qs(body)
        if "payload" not in form:
            return _command(form, request_id)
        payload = json.loads(form["payload"][0])
    except (ValueError, IndexError, RecursionError):
        return None
    if not isinstance(payload, dict):
        return None
    return _interaction(payload, request_id)


def _command(form: dict[str, list[str]], request_id: str) -> Received:
    def field(name: str) -> str:
        return form.get(name, [""])[0]

    text = field("text")
    words = text.split()
    name = words[0].lower() if words else "help"
    name = name if name.isascii() and name.isalpha() and len(name) <= 20 else "unknown"
    invocation = Invocation(
        user=SlackUser(team_id=field("team_id"), user_id=field("user_id")),
        channel_id=field("channel_id"),
        request_id=request_id,
        text=text,
    )
    return Received(
        invocation=invocation,
        action=f"command.{name}",
        words=command_words(field("command") or "/recording", text),
        resumes=name == "resume",
        response_url=field("response_url") or None,
    )


def _interaction(payload: dict[str, Any], request_id: str) -> Received:
    user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
    team = payload.get("team") if isinstance(payload.get("team"), dict) else {}
    channel = payload.get("channel") if isinstance(payload.get("channel"), dict) else {}
    assert isinstance(user, dict) and isinstance(team, dict) and isinstance(channel, dict)
    invocation = Invocation(
        user=SlackUser(team_id=str(user.get("team_id") or team.get("id") or ""), user_id=str(user.get("id") or "")),
        channel_id=str(channel.get("id") or ""),
        request_id=request_id,
    )
    url = payload.get("response_url")
    response_url = url if isinstance(url, str) and url else None
    kind = payload.get("type")
    if kind == "view_submission":
        urls = payload.get("response_urls")
        if isinstance(urls, list) and urls and isinstance(urls[0], dict):
            response_url = str(urls[0].get("response_url") or "") or None
        return Received(invocation, "form.pause", FORM_WORDS, resumes=False, response_url=response_url)
    actions = payload.get("actions")
    action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
    action_id = str(action.get("action_id") or "")
    label = action.get("text")
    label_text = str(label.get("text") or "") if isinstance(label, dict) else ""
    name = action_id.removeprefix("recording_") or "unknown"
    resumes = action_id == ACTION_RESUME
    words = click_words(action_id, label_text)
    return Received(invocation, f"click.{name}", words, resumes=resumes, response_url=response_url)
