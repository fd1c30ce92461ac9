"""Several `pantau serve` nodes on one PostgreSQL: the node registry (who is up, heartbeat ages),
camera leases (one owner per camera, an epoch that grows with every new owner), the fencing check a
segment insert makes inside its own transaction, and the view `pantau nodes` and `/health` print.

Groundwork only: the recorder does not follow leases yet; every node records every camera it is
configured with. Every time that decides anything is the database's (`now()`), never a node's.
"""
