"""The shift desk (SOP steps 1-4 and 10): shifts opened by operators signing on, stored camera and
equipment checks, patrol attestations, handovers pre-filled by the server and countersigned by the
next shift, and their printed reports. Every record is insert-only, hashed and in the access log."""
