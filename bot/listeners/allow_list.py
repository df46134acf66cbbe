"""`/recording allow`, `revoke`, `users`, `group` and `groups`: the allow-list and approver groups."""

from __future__ import annotations

from bot.blocks.allow_list import (
    group_message,
    groups_message,
    linked_message,
    no_group_message,
    role_changed_message,
    unlinked_message,
    users_message,
)
from bot.commands.types import NO_GROUP, Allow, ConfigureGroup, Link, ListGroups, ListUsers, Revoke, ShowGroup, Unlink
from bot.listeners.command_run import CommandRun
from bot.store.allow_list import KEEP_GROUP, GroupChange, Keep


def allow(run: CommandRun, command: Allow) -> None:
    run.audit_details["target"] = command.user_id
    group: GroupChange = KEEP_GROUP
    if isinstance(command.group, str):
        group = run.audit_details["group"] = command.group
    elif command.group is NO_GROUP:
        group = None
    change = run.services.authorizer.grant(run.invocation, command.user_id, command.role, group)
    run.reply_privately(
        role_changed_message(
            change.user_id, change.previous, change.current, previous_group=change.previous_group, group=change.group
        )
    )


def revoke(run: CommandRun, command: Revoke) -> None:
    run.audit_details["target"] = command.user_id
    change = run.services.authorizer.revoke(run.invocation, command.user_id)
    # Their pending and failed requests are withdrawn now (the schedule would within its next pass).
    run.services.pauses.withdraw_unlisted()
    run.reply_privately(role_changed_message(change.user_id, change.previous, change.current))


def users(run: CommandRun, command: ListUsers) -> None:
    entries = run.services.authorizer.entries_for(run.invocation)
    links = {link.user_id: link.extension for link in run.services.links.links(run.invocation.team_id)}
    run.reply_privately(users_message(entries, links, page=command.page))


def link(run: CommandRun, command: Link) -> None:
    previous, whose = run.services.links.link(run.invocation, command.extension, user_id=command.user_id)
    run.audit_details["target"] = whose
    run.reply_privately(linked_message(whose, command.extension, previous.extension if previous else None))


def unlink(run: CommandRun, command: Unlink) -> None:
    removed = run.services.links.unlink(run.invocation, user_id=command.user_id)
    run.audit_details["target"] = command.user_id or run.invocation.user_id
    run.reply_privately(
        unlinked_message(command.user_id or run.invocation.user_id, removed.extension if removed else None)
    )


def show_group(run: CommandRun, command: ShowGroup) -> None:
    run.audit_details["target"] = command.name
    view = run.services.authorizer.group_view(run.invocation, command.name)
    run.reply_privately(group_message(view.group, view.members) if view else no_group_message(command.name))


def configure_group(run: CommandRun, command: ConfigureGroup) -> None:
    run.audit_details["target"] = command.name
    channel: str | Keep | None = KEEP_GROUP if command.channel_id is None else (command.channel_id or None)
    group = run.services.authorizer.configure_group(
        run.invocation, command.name, channel_id=channel, approvals=command.approvals
    )
    view = run.services.authorizer.group_view(run.invocation, group.name)
    assert view is not None
    run.reply_privately(group_message(view.group, view.members))


def list_groups(run: CommandRun, command: ListGroups) -> None:
    views = run.services.authorizer.groups_view(run.invocation)
    run.reply_privately(groups_message([(view.group, view.members) for view in views], page=command.page))
