"""Who is who: users and roles, password hashing, bearer sessions, sign-in throttling."""

from policy.identity.users import Principal, UserStore
from policy.identity.sessions import SessionStore
from policy.identity.throttle import LoginThrottle

__all__ = [
    "LoginThrottle",
    "Principal",
    "SessionStore",
    "UserStore",
]
