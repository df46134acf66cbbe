"""Messages about the allow-list and approver groups: who is in, in which role and group."""

from __future__ import annotations

from bot.blocks.kit import (
    MAX_BLOCKS,
    Block,
    ListRow,
    Message,
    code,
    context,
    mention,
    more_note,
    page_heading,
    paged,
    section,
    target_text,
)
from bot.blocks.text import escape
from bot.models import AllowListEntry, ApproverGroup, RecordingTarget, Role, TargetKind

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


def _linked(extension: str) -> str:
    return target_text(RecordingTarget(TargetKind.EXTENSION, extension))


def linked_message(user_id: str, extension: str, previous: str | None) -> Message:
    was = f" (was {code(previous)})" if previous and previous != extension else ""
    text = f":link: {mention(user_id)} is linked to {_linked(extension)}{was}: `me` in a command now means it."
    return Message(f"{mention(user_id)} is linked to {_linked(extension)}.", [section(text)])


def unlinked_message(user_id: str, extension: str | None) -> Message:
    if extension is None:
        text = f"{mention(user_id)} had no linked extension; nothing changed."
    else:
        text = f":link: {mention(user_id)} is no longer linked to {_linked(extension)}."
    return Message(text, [section(text)])


_USERS_CLI = "`recording-bot users list` on the server lists everyone at once."


def users_message(entries: list[AllowListEntry], links: dict[str, str] | None = None, *, page: int = 1) -> Message:
    """Everyone on the allow-list by role, one row each, over as many pages as they need."""
    if not entries:
        return Message("The allow-list is empty.", [section("The allow-list is empty.")])
    links = links or {}
    by_role = sorted(entries, key=lambda e: (-e.role.rank, e.user_id))
    counts = {role: sum(1 for e in entries if e.role is role) for role in _ROLE_TITLES}
    rows = [
        ListRow(
            f"• {mention(e.user_id)}"
            + _workspace_note(e)
            + (f" — {escape(e.group_name)}" if e.group_name else "")
            + (f" — {_linked(links[e.user_id])}" if e.user_id in links else ""),
            part=f"*{_ROLE_TITLES[e.role]}* ({counts[e.role]})",
        )
        for e in by_role
    ]
    shown = paged(rows, page=page, max_sections=MAX_BLOCKS - 2)
    heading = f"*Allow-list* — {_people(len(entries))}{page_heading(shown)}"
    blocks: list[Block] = [section(heading), *shown.blocks]
    note = more_note(shown, next_page=f"/recording users page {shown.number + 1}", also=_USERS_CLI)
    if note:
        blocks.append(note)
    summary = ", ".join(_counted(counts[role], _ROLE_NOUNS[role]) for role in _ROLE_TITLES if counts[role])
    return Message(f"{heading.replace('*', '')}: {summary}.", blocks)


_ROLE_NOUNS = {Role.ADMIN: "admin", Role.APPROVER: "approver", Role.REQUESTER: "requester"}
# Mentions per row of a group's members: a row stays far below a section's 3000 characters.
_MENTIONS_PER_ROW = 25


def _workspace_note(entry: AllowListEntry) -> str:
    """Where the allow-list is an organisation's: the workspace the person last used the bot from."""
    return f" (workspace {code(entry.workspace_id)})" if entry.workspace_id else ""


def _people(count: int) -> str:
    return "1 person" if count == 1 else f"{count} people"


def group_message(group: ApproverGroup, members: list[AllowListEntry]) -> Message:
    channel = f"<#{group.channel_id}>" if group.channel_id else "none: cards go where a request is made"
    approvals = "2 different approvers (four eyes)" if group.approvals >= 2 else "1 approver"
    rows = [
        ListRow(f"Approvals channel: {channel}"),
        ListRow(f"Each request needs: {approvals}"),
    ]
    for role in (Role.ADMIN, Role.APPROVER, Role.REQUESTER):
        people = sorted((m for m in members if m.role is role), key=lambda m: m.user_id)
        title = f"*{_ROLE_TITLES[role]}* ({len(people)})"
        if not people:
            rows.append(ListRow(f"{title}: none"))
        for start in range(0, len(people), _MENTIONS_PER_ROW):
            chunk = people[start : start + _MENTIONS_PER_ROW]
            rows.append(ListRow(", ".join(mention(p.user_id) + _workspace_note(p) for p in chunk), part=title))
    shown = paged(rows, page=1, max_sections=MAX_BLOCKS - 2)
    blocks: list[Block] = [section(f"*Group {code(group.name)}* — {_people(len(members))}"), *shown.blocks]
    if shown.after:
        blocks.append(
            context(
                f"… and more members than fit here: `/recording users` lists everyone with their group. {_USERS_CLI}"
            )
        )
    plain = (
        f"Group {code(group.name)}: approvals channel {channel if group.channel_id else 'none'}, {approvals}, "
        f"{_people(len(members))}."
    )
    return Message(plain, blocks)


def no_group_message(name: str) -> Message:
    text = (
        f"There is no group {code(name)} yet. Put someone in it with `/recording allow @user approver {escape(name)}`, "
        f"or give it an approvals channel with `/recording group {escape(name)} channel #channel`."
    )
    return Message(text.replace("`", ""), [section(text)])


def groups_message(groups: list[tuple[ApproverGroup, list[AllowListEntry]]], *, page: int = 1) -> Message:
    if not groups:
        text = "There are no approver groups yet: `/recording allow @user approver &lt;group&gt;` makes one."
        return Message(text, [section(text)])
    rows = [
        ListRow(
            f"• {code(group.name)} — "
            + (f"cards in <#{group.channel_id}>" if group.channel_id else "cards where requests are made")
            + f", {group.approvals} approval{'s' if group.approvals != 1 else ''}"
            + f", {_counted(sum(m.role.at_least(Role.APPROVER) for m in members), 'approver')}"
            + f", {_counted(len(members), 'member')}"
        )
        for group, members in groups
    ]
    shown = paged(rows, page=page, max_sections=MAX_BLOCKS - 2)
    heading = f"*Approver groups* ({len(groups)}){page_heading(shown)}"
    blocks: list[Block] = [section(heading), *shown.blocks]
    note = more_note(shown, next_page=f"/recording groups page {shown.number + 1}")
    if note:
        blocks.append(note)
    return Message(heading.replace("*", ""), blocks)


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")
