"""The access log's account of user administration: one `user_changed` entry per changed field, from
the CLI and the API alike, naming who changed whom, what, and through which door. Never a password."""

from __future__ import annotations

from typing import Literal

from policy.audit.entries import AccessAction, AccessEvent, AccessRecorder
from policy.identity.useradmin import UserChange

Via = Literal["cli", "api"]


def change_events(change: UserChange, actor: str, role: str | None, client: str | None, via: Via) -> list[AccessEvent]:
    """The entries for one administrative request; none when nothing changed."""
    return [
        AccessEvent(AccessAction.USER_CHANGED, actor=actor, role=role, client=client,
                    details={"username": change.user.username, "field": field.field, "from": field.before,
                             "to": field.after, "via": via, "sessions_revoked": change.sessions_revoked})
        for field in change.changes
    ]


async def record_change(access_log: AccessRecorder, change: UserChange, actor: str, role: str | None,
                        client: str | None, via: Via) -> None:
    """Write the entries of `change_events`, in order."""
    for event in change_events(change, actor, role, client, via):
        await access_log.record(event)
