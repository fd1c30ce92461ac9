"""Fixtures that run the GStreamer test camera (tests/camera_server.py). Owned by the streams work."""
