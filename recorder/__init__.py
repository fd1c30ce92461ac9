"""Recording: sealed segments, index, gaps, retention, the playback reader, export bundles."""
