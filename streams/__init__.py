"""Camera ingest: sources, the packet hub, per-camera stats and health."""
