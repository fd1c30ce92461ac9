"""Who is who: users and roles, password hashing, bearer sessions, sign-in throttling, enrolled wall
displays."""

from policy.identity.displays import DisplayInfo, DisplayStore, DisplayUse
from policy.identity.users import Principal, UserStore
from policy.identity.sessions import SessionStore
from policy.identity.throttle import LoginThrottle

__all__ = [
    "DisplayInfo",
    "DisplayStore",
    "DisplayUse",
    "LoginThrottle",
    "Principal",
    "SessionStore",
    "UserStore",
]
