"""Who may decide a request: the one rule every surface goes through — a card's buttons, the Home tab's,
the approvers told by DM, an extension's approval, a retry or an abandon.

Admins decide everything; an approver in no group (a floor manager) decides every request; an approver in
a group decides that group's requests, and requests that belong to no group. Nobody decides their own,
nor an extension of their own pause (an extension belongs to its pause: its group, its approvals).
A change to a line's call-recording settings (`/recording set`) is decided by this same rule.
"""

from __future__ import annotations

from bot.models import Access, PauseRequest, Role
from bot.models.changes import ChangeRequest
from bot.models.refusals import NotADecider, NotAnApprover, OtherGroup, OwnRequest


def may_decide(
    request: PauseRequest | ChangeRequest, user_id: str, access: Access, *, action: str = "decide"
) -> Access:
    """`access` (the person `user_id`'s) if they may `action` this request; raises NotADecider if not."""
    if not access.role.at_least(Role.APPROVER):
        raise NotAnApprover(request, access, action=action)
    owners = {request.requester_id}
    if isinstance(request, PauseRequest) and request.pause_requester_id:
        owners.add(request.pause_requester_id)
    if user_id in owners:
        raise OwnRequest(request, access, action=action)
    in_group = access.group_name is None or request.group_name is None or access.group_name == request.group_name
    if access.role is not Role.ADMIN and not in_group:
        raise OtherGroup(request, access, action=action)
    return access


def decides(request: PauseRequest | ChangeRequest, user_id: str, access: Access) -> bool:
    """may_decide as a question (for lists: whom to tell, what a Home shows)."""
    try:
        may_decide(request, user_id, access)
    except NotADecider:
        return False
    return True
