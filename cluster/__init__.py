"""Several `pantau serve` nodes on one PostgreSQL: the node registry (who is up, heartbeat ages),
camera leases (one owner per camera, an epoch that grows with every new owner), the keeper that makes
them drive recording (renew, take a fair share, hand over, fail over), the fencing check a segment
insert makes inside its own transaction, and the view `pantau nodes` and `/health` print.

Every time that decides anything is the database's (`now()`), never a node's.
"""
