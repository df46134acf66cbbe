"""Messages about the allow-list and approver groups: who is in, in which role and group."""

from __future__ import annotations

from itertools import groupby

from bot.blocks.kit import MAX_BLOCKS, Block, Message, code, context, mention, packed_sections, section
from bot.blocks.text import escape
from bot.models import AllowListEntry, ApproverGroup, Role

_ROLE_TITLES = {Role.ADMIN: "Admins", Role.APPROVER: "Approvers (team leads)", Role.REQUESTER: "Requesters"}


def role_changed_message(
    user_id: str,
    previous: Role | None,
    current: Role | None,
    *,
    previous_group: str | None = None,
    group: str | None = None,
) -> Message:
    who = mention(user_id)
    group_note = ""
    if current is not None and group != previous_group:
        group_note = f", in the *{escape(group)}* group" if group else ", in no group"
        if previous_group:
            group_note += f" (was in {escape(previous_group)})"
    elif current is not None and group:
        group_note = f", in the *{escape(group)}* group"
    if current is None:
        if previous is None:
            text = f"{who} was not on the allow-list; nothing changed."
        else:
            text = f":wave: {who} is no longer on the allow-list (was {previous.value})."
    elif previous is None:
        text = f":white_check_mark: {who} is now allowed as *{current.value}*{group_note}."
    elif previous is current and group == previous_group:
        text = f"{who} already was *{current.value}*{group_note}; nothing changed."
    elif previous is current:
        text = f":white_check_mark: {who} stays *{current.value}*{group_note}."
    else:
        text = f":white_check_mark: {who} is now *{current.value}* (was {previous.value}){group_note}."
    return Message(text.replace("*", ""), [section(text)])


def linked_message(user_id: str, extension: str, previous: str | None) -> Message:
    was = f" (was {code(previous)})" if previous and previous != extension else ""
    text = f":link: {mention(user_id)} is linked to extension {code(extension)}{was}: `me` in a command now means it."
    return Message(f"{user_id} is linked to extension {extension}.", [section(text)])


def unlinked_message(user_id: str, extension: str | None) -> Message:
    if extension is None:
        text = f"{mention(user_id)} had no linked extension; nothing changed."
    else:
        text = f":link: {mention(user_id)} is no longer linked to extension {code(extension)}."
    return Message(text.replace("`", ""), [section(text)])


def users_message(entries: list[AllowListEntry], links: dict[str, str] | None = None) -> Message:
    if not entries:
        return Message("The allow-list is empty.", [section("The allow-list is empty.")])
    by_role = sorted(entries, key=lambda e: -e.role.rank)
    blocks: list[Block] = [section(f"*Allow-list* — {len(entries)} user(s)")]
    plain = []
    hidden = 0
    for role, members_iter in groupby(by_role, key=lambda e: e.role):
        members = list(members_iter)
        lines = [f"*{_ROLE_TITLES[role]}* ({len(members)})"] + [
            f"• {mention(e.user_id)}"
            + (f" — {escape(e.group_name)}" if e.group_name else "")
            + (f" — ext. {code((links or {})[e.user_id])}" if e.user_id in (links or {}) else "")
            for e in members
        ]
        room = MAX_BLOCKS - len(blocks) - 1
        packed, left = packed_sections(lines, max_blocks=max(1, room))
        blocks.extend(packed)
        hidden += left
        plain.append(f"{_ROLE_TITLES[role]}: " + ", ".join(e.user_id for e in members))
    if hidden:
        blocks = blocks[: MAX_BLOCKS - 1]
        blocks.append(
            context(f"…and {hidden} more not shown here: `recording-bot users list` on the server lists all.")
        )
    return Message("; ".join(plain), blocks)


def group_message(group: ApproverGroup, members: list[AllowListEntry]) -> Message:
    channel = f"<#{group.channel_id}>" if group.channel_id else "none: cards go where a request is made"
    approvals = "2 different approvers (four eyes)" if group.approvals >= 2 else "1 approver"
    lines = [
        f"*Group {code(group.name)}*",
        f"Approvals channel: {channel}",
        f"Each request needs: {approvals}",
    ]
    for role in (Role.ADMIN, Role.APPROVER, Role.REQUESTER):
        people = [mention(m.user_id) for m in members if m.role is role]
        lines.append(f"{_ROLE_TITLES[role]}: " + (", ".join(people) if people else "none"))
    blocks, left = packed_sections(lines, max_blocks=MAX_BLOCKS - 1)
    if left:
        blocks.append(context(f"…and {left} more lines: `recording-bot users list` on the server lists everyone."))
    plain = f"Group {group.name}: channel {group.channel_id or 'none'}, {approvals}, {len(members)} member(s)"
    return Message(plain, blocks)


def no_group_message(name: str) -> Message:
    text = (
        f"There is no group {code(name)} yet. Put someone in it with `/recording allow @user approver {escape(name)}`, "
        f"or give it an approvals channel with `/recording group {escape(name)} channel #channel`."
    )
    return Message(text.replace("`", ""), [section(text)])


def groups_message(groups: list[tuple[ApproverGroup, list[AllowListEntry]]]) -> Message:
    if not groups:
        text = "There are no approver groups yet: `/recording allow @user approver <group>` makes one."
        return Message(text.replace("`", ""), [section(text)])
    lines = [f"*Approver groups* ({len(groups)})"] + [
        f"• {code(group.name)} — "
        + (f"cards in <#{group.channel_id}>" if group.channel_id else "cards where requests are made")
        + f", {group.approvals} approval{'s' if group.approvals != 1 else ''}"
        + f", {sum(m.role.at_least(Role.APPROVER) for m in members)} approver(s), {len(members)} member(s)"
        for group, members in groups
    ]
    blocks, left = packed_sections(lines, max_blocks=MAX_BLOCKS - 1)
    if left:
        blocks.append(context(f"…and {left} more groups not shown."))
    return Message("; ".join(f"{g.name} ({len(m)} members)" for g, m in groups), blocks)
