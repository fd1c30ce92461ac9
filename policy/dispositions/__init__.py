"""The disposition workflow: playback requests with their letters, approvals, signed tokens, redeeming and revoking."""

from policy.dispositions.workflow import DispositionService
from policy.dispositions.redeem import Redemption
from policy.dispositions.tokens import DispositionClaims, TokenRejected

__all__ = [
    "DispositionClaims",
    "DispositionService",
    "Redemption",
    "TokenRejected",
]
