"""ONVIF camera events: one subscription per camera, the recent-events buffer and its table, live listeners."""
