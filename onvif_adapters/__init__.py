"""Everything ONVIF behind a small interface (not built yet)."""
