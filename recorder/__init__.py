"""Recording: sealed segments, index, gaps, retention, playback reader (not built yet)."""
