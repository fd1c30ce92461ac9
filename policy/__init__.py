"""Users, roles, the disposition workflow, the decision function and the access log."""
