"""The tamper-evident access log: hash chain, RFC 6962 Merkle tree, signed checkpoints, witnesses, offline verification."""

from policy.audit.accesslog import AccessLog, AccessLogTampered
from policy.audit.entries import AccessAction, AccessEvent, AccessRecorder
from policy.audit.setup import open_access_log, record_config

__all__ = [
    "AccessAction",
    "AccessEvent",
    "AccessLog",
    "AccessLogTampered",
    "AccessRecorder",
    "open_access_log",
    "record_config",
]
