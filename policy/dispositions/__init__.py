"""The disposition workflow: playback requests with their letters, approvals, signed tokens, redeeming and revoking."""
