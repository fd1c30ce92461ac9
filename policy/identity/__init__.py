"""Who is who: users and roles, password hashing, bearer sessions, sign-in throttling."""
