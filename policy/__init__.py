"""Who may do what, and the proof of what was done: `decide()` (decision.py), the pure permission
function every route asks; `audit/`, the tamper-evident access log; `dispositions/`, the playback
request -> approval -> token workflow; `identity/`, users, passwords and sessions."""

from policy.decision import Action, Context, Decision, Reason, Resource, Subject, TokenGrant, decide

__all__ = [
    "Action",
    "Context",
    "Decision",
    "Reason",
    "Resource",
    "Subject",
    "TokenGrant",
    "decide",
]
