"""Who is who: users and roles, their administration (useradmin.py: disable, enable, role, a new
password; the last administrator kept), password hashing, bearer sessions, sign-in throttling, enrolled wall
displays, signed links (links.py: short-lived URLs bound to who asked; linkuses.py: one-time use)."""

from policy.identity.displays import DisplayInfo, DisplayStore, DisplayUse
from policy.identity.links import LinkClaims, LinkRejected, LinkSigner
from policy.identity.linkuses import LinkUses
from policy.identity.users import Principal, UserStore
from policy.identity.sessions import SessionStore
from policy.identity.throttle import LoginThrottle

__all__ = [
    "DisplayInfo",
    "DisplayStore",
    "DisplayUse",
    "LinkClaims",
    "LinkRejected",
    "LinkSigner",
    "LinkUses",
    "LoginThrottle",
    "Principal",
    "SessionStore",
    "UserStore",
]
