"""The words of a settings change (`/recording set`): its card with the before → after table, what the
requester and the approvers are told, and its answers."""

from __future__ import annotations

from bot.action_ids import (
    ACTION_CHANGE_ABANDON,
    ACTION_CHANGE_APPROVE,
    ACTION_CHANGE_DENY,
    ACTION_CHANGE_RETRY,
    ACTION_CHANGE_UNDO,
)
from bot.blocks.kit import Block, Message, button, code, context, fields, mention, section, slack_date, with_typed_text
from bot.blocks.text import escape
from bot.models.changes import MODE_WORDS, NOTIFICATION_WORDS, SETTING_LABELS, ChangeRequest, ChangeState, SettingChange

CHANGE_DECISION_BLOCK_ID = "change_decision"

_STATE_WORDS = {
    ChangeState.PENDING: "waiting for approval",
    ChangeState.EXECUTING: "approved, being written to Webex",
    ChangeState.CHANGED: "changed",
    ChangeState.STALE: "not changed: the line changed meanwhile",
    ChangeState.FAILED: "failed",
    ChangeState.DENIED: "denied",
    ChangeState.EXPIRED: "expired",
    ChangeState.ABANDONED: "abandoned",
    ChangeState.CANCELLED: "cancelled",
}


def value_words(name: str, value: str) -> str:
    """A setting's value as a person reads it on a card (Webex's own names for the modes)."""
    if name == "mode" and value in MODE_WORDS:
        return MODE_WORDS[value]
    if name == "notification" and value in NOTIFICATION_WORDS:
        return NOTIFICATION_WORDS[value] or "None"
    if name == "repeat-beep" and value.endswith("s") and value[:-1].isdigit():
        return f"every {value[:-1]} s"
    return value


def _row(change: SettingChange, *, arrow: str = "→") -> str:
    label = SETTING_LABELS.get(change.name, change.name)
    before, after = value_words(change.name, change.before), value_words(change.name, change.after)
    return f"• {escape(label)}: {escape(before)} {arrow} *{escape(after)}*"


def change_title(request: ChangeRequest) -> str:
    what = "Undo" if request.undoes_id is not None else "Settings change"
    return f"{what} #{request.id} for {escape(request.line_label)}: {_STATE_WORDS[request.state]}"


def change_card(request: ChangeRequest) -> Message:
    """The card for any state: buttons while something can be decided, the outcome afterwards."""
    pairs = [("Requested by", mention(request.requester_id)), ("Line", escape(request.line_label))]
    if request.group_name:
        pairs.append(("Group", code(request.group_name)))
    if request.approvals_needed > 1:
        pairs.append(("Approvals needed", str(request.approvals_needed)))
    if request.undoes_id is not None:
        pairs.append(("Puts back", f"change #{request.undoes_id}"))
    table = "\n".join(_row(change) for change in request.changes)
    blocks: list[Block] = [
        section(f"*{change_title(request)}*"),
        fields(pairs),
        section(f"*Before → after* (read from Webex when asked)\n{table}"),
        with_typed_text("*Reason*", request.reason),
    ]
    if request.drastic:
        blocks.append(context(
            ":warning: This turns recording off or to Never: it needs two approvals, whatever the group's rule."
        ))  # fmt: skip
    blocks.extend(_outcome(request))
    text = f"{change_title(request)} — " + "; ".join(
        f"{SETTING_LABELS.get(c.name, c.name)}: {value_words(c.name, c.before)} → {value_words(c.name, c.after)}"
        for c in request.changes
    )
    return Message(text, blocks)


def _approvers(request: ChangeRequest) -> str:
    return ", ".join(mention(a.approver_id) for a in request.approvals) or "nobody"


def _actions(*elements: Block) -> Block:
    return {"type": "actions", "block_id": CHANGE_DECISION_BLOCK_ID, "elements": list(elements)}


def _outcome(request: ChangeRequest) -> list[Block]:
    value = str(request.id)
    state = request.state
    if state is ChangeState.PENDING:
        blocks: list[Block] = []
        if request.approvals:
            blocks.append(context(
                f":ballot_box_with_check: {len(request.approvals)} of {request.approvals_needed} approvals: "
                f"{_approvers(request)}"
            ))  # fmt: skip
        blocks.append(context(f"Expires {slack_date(request.expires_at)} if nobody decides."))
        blocks.append(_actions(
            button("Approve", ACTION_CHANGE_APPROVE, value, style="primary"),
            button("Deny", ACTION_CHANGE_DENY, value, style="danger"),
        ))  # fmt: skip
        return blocks
    if state is ChangeState.EXECUTING:
        return [context(f"Approved by {_approvers(request)}; writing to Webex…")]
    if state is ChangeState.CHANGED:
        asked = {c.name: c.after for c in request.changes}
        now = "\n".join(
            f"• {escape(SETTING_LABELS.get(c.name, c.name))}: *{escape(value_words(c.name, c.after))}*"
            + ("" if asked.get(c.name) == c.after else " :warning: not what was asked")
            for c in request.found
        )
        confirmed = f"Webex now reads:\n{now}" if now else "Webex took it; it could not be read back to confirm."
        blocks = [section(f":white_check_mark: Changed in Webex, approved by {_approvers(request)}. {confirmed}")]
        if request.undone_by_id is not None:
            blocks.append(context(f":leftwards_arrow_with_hook: Undone by change #{request.undone_by_id}."))
        else:
            blocks.append(_actions(button("Undo", ACTION_CHANGE_UNDO, value)))
        return blocks
    if state is ChangeState.STALE:
        found = "\n".join(_row(c, arrow="→ now") for c in request.found)
        return [section(
            ":no_entry: Nothing was written: the line changed after the request was made. "
            f"Was when asked → is now:\n{found}\nAsk again with `/recording set` if the change is still wanted."
        )]  # fmt: skip
    if state is ChangeState.FAILED:
        return [
            section(f":x: Webex did not take the change: {escape(request.error or 'unknown error')}"),
            _actions(
                button("Retry", ACTION_CHANGE_RETRY, value, style="primary"),
                button("Abandon", ACTION_CHANGE_ABANDON, value, style="danger"),
            ),
        ]
    who = f" by {mention(request.decided_by)}" if request.decided_by and request.decided_by != "system" else ""
    why = f" ({escape(request.error)})" if request.error else ""
    return [context(f"{_STATE_WORDS[state].capitalize()}{who}{why}. Nothing was written to Webex.")]


def change_asked_message(request: ChangeRequest, link: str | None) -> Message:
    """The requester's private answer: where the card is, and who decides."""
    where = f"<{link}|its card>" if link else f"its card in <#{escape(request.card_channel)}>"
    needed = "two approvals" if request.approvals_needed > 1 else "one approval"
    text = (
        f"Settings change #{request.id} for {escape(request.line_label)} asked: it needs {needed}; see {where}. "
        "Nothing changes in Webex until it is approved."
    )
    return Message(text, [section(text)])


def change_decider_notice(request: ChangeRequest, link: str | None) -> Message:
    where = f" <{link}|Open the card>." if link else f" The card is in <#{escape(request.card_channel)}>."
    text = (
        f"{mention(request.requester_id)} asks to change {escape(request.line_label)}'s call-recording settings "
        f"(change #{request.id}); you may decide it.{where}"
    )
    return Message(text, [section(text)])


def change_outcome_message(request: ChangeRequest) -> Message:
    text = f"{change_title(request)}."
    if request.state is ChangeState.FAILED and request.error:
        text += f" {escape(request.error)}"
    return Message(text, [section(text)])


def change_counted_message(request: ChangeRequest) -> Message:
    text = (
        f"Your approval of change #{request.id} is counted: {len(request.approvals)} of "
        f"{request.approvals_needed}; another approver must approve it too."
    )
    return Message(text, [section(text)])
