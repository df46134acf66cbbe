"""`recording-bot users add|remove|list`: the allow-list from the command line, audited as cli:<login name>."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from bot.cli.common import UsageError, parse_user_id, workspace_of
from bot.config import Config
from bot.models import Role


def add_users_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = sub.add_parser(
        "users",
        help="manage the allow-list from the command line",
        description="Add, change, remove and list the people allowed to use the bot (to bootstrap the first "
        "admin, or when Slack is not at hand). Changes are audited under cli:<your login name>.",
    )
    team_help = "Slack team (workspace) ID; default: the bot token's workspace"
    users.add_argument("--team", help=team_help)
    # --team is accepted after the action too (`users add U1 admin --team T1`); SUPPRESS keeps a
    # --team given before the action from being overwritten by the action's own default.
    team_after = argparse.ArgumentParser(add_help=False)
    team_after.add_argument("--team", default=argparse.SUPPRESS, help=team_help)
    users_sub = users.add_subparsers(metavar="ACTION", required=True)
    add = users_sub.add_parser(
        "add",
        parents=[team_after],
        help="add a user or change their role",
        description="Add a user to the allow-list, or change their role or approver group.",
    )
    add.add_argument("user_id", help="Slack user ID, e.g. U012ABCDEF or @U012ABCDEF")
    add.add_argument("role", choices=[r.value for r in Role])
    add.add_argument(
        "--group", metavar="NAME", help="put the user in this approver group (`-` takes them out of theirs)"
    )
    add.set_defaults(func=_users_add)
    remove = users_sub.add_parser(
        "remove", parents=[team_after], help="remove a user", description="Remove a user from the allow-list."
    )
    remove.add_argument("user_id", help="Slack user ID, e.g. U012ABCDEF or @U012ABCDEF")
    remove.set_defaults(func=_users_remove)
    listing = users_sub.add_parser(
        "list",
        parents=[team_after],
        help="list the allow-list",
        description="List the allow-list: each user's role, approver group, who added them and when.",
    )
    listing.set_defaults(func=_users_list)

def _users_add(config: Config, args: argparse.Namespace) -> int:
    from bot.services.allow_list import LastAdmin
    from bot.store.allow_list import KEEP_GROUP, GroupChange

    group: GroupChange = KEEP_GROUP
    if args.group is not None:
        group = None if args.group == "-" else _group_name(args.group)
    user_id = parse_user_id(args.user_id)
    authorizer, team_id = _allow_list(config, args)
    try:
        change = authorizer.set_role(team_id, user_id, Role(args.role), source=operator_name(), group=group)
    except LastAdmin:
        print("refused: that would leave the workspace without an admin", file=sys.stderr)
        return 1
    where = f", group {change.group}" if change.group else ""
    if not change.changed:
        print(f"{change.user_id} already is {args.role}{where} in {team_id}; nothing changed")
    elif change.previous is change.current:
        group_change = f"group {change.group or '-'} (was {change.previous_group or '-'})"
        print(f"{change.user_id} stays {args.role}; {group_change} in {team_id}")
    else:
        was = f" (was {change.previous.value})" if change.previous else ""
        print(f"{change.user_id} is now {args.role}{was}{where} in {team_id}")
    return 0


def operator_name() -> str:
    """How a change made from this command line is attributed: `cli:<login name>` in the audit log and the list.

    Slack changes carry the Slack user ID of who made them; a shell has no Slack user, but it has a login.
    """
    from bot.services.allow_list import CLI_ACTOR

    try:
        login = getpass.getuser()
    except (OSError, KeyError):  # no login name in this environment (e.g. a container's anonymous UID)
        return CLI_ACTOR
    return f"{CLI_ACTOR}:{login}" if login else CLI_ACTOR


def _group_name(text: str) -> str:
    from bot.commands.parser import GROUP_NAME

    name = text.strip().lower()
    if not GROUP_NAME.match(name) or not name.strip("-"):
        raise UsageError(f"--group {text!r} is not a group name: 1–30 lowercase letters, digits or dashes")
    return name


def _users_remove(config: Config, args: argparse.Namespace) -> int:
    from bot.services.allow_list import LastAdmin

    user_id = parse_user_id(args.user_id)
    authorizer, team_id = _allow_list(config, args)
    try:
        change = authorizer.remove(team_id, user_id, source=operator_name())
    except LastAdmin:
        print("refused: that is the last admin; add another admin first", file=sys.stderr)
        return 1
    if change.previous is None:
        print(f"{change.user_id} was not on the allow-list of {team_id}; nothing changed", file=sys.stderr)
        return 1
    print(f"{change.user_id} removed (was {change.previous.value}) from {team_id}")
    return 0


def _users_list(config: Config, args: argparse.Namespace) -> int:
    authorizer, team_id = _allow_list(config, args)
    entries = authorizer.entries(team_id)
    if not entries:
        print(f"the allow-list of {team_id} is empty")
        return 0
    # An organisation's allow-list (org-wide install) also says which workspace each person last acted from.
    grid = any(entry.workspace_id for entry in entries)
    where = f"{'workspace':<14} " if grid else ""
    print(f"{'user':<14} {'role':<10} {'group':<16} {where}{'added by':<20} added at (UTC)")
    for entry in sorted(entries, key=lambda e: (-e.role.rank, e.user_id)):
        group = entry.group_name or "-"
        added = f"{entry.added_at:%Y-%m-%d %H:%M}"
        where = f"{entry.workspace_id or '-':<14} " if grid else ""
        print(f"{entry.user_id:<14} {entry.role.value:<10} {group:<16} {where}{entry.added_by:<20} {added}")
    return 0


def _allow_list(config: Config, args: argparse.Namespace) -> tuple[Any, str]:
    from bot.services.allow_list import Authorizer
    from bot.services.audit import AuditTrail
    from bot.store.allow_list import AllowListStore
    from bot.store.audit import AuditStore
    from bot.store.connect import open_database

    team = workspace_of(config, args.team)
    database = open_database(config)
    database.migrate()
    authorizer = Authorizer(
        allow_list=AllowListStore(database=database), audit=AuditTrail(store=AuditStore(database=database))
    )
    return authorizer, team
