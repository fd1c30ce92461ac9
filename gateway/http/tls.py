"""HTTPS for the HTTP server: the TLS context built from `server.tls_cert` and `server.tls_key`."""

from __future__ import annotations

import ssl

from core.config import ServerConfig
from core.errors import ConfigError


def server_context(config: ServerConfig) -> ssl.SSLContext | None:
    """The server's TLS context (TLS 1.2 or later), or None for plain HTTP. ConfigError naming the
    keys when the files are not a certificate and its key."""
    if config.tls_cert is None or config.tls_key is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (ssl.SSLError, OSError) as exc:
        # ssl says "[SSL] PEM lib" for a file that is not PEM and KEY_VALUES_MISMATCH for a key
        # of another certificate; neither names the file.
        raise ConfigError([f"server.tls_cert {str(config.tls_cert)!r} / server.tls_key {str(config.tls_key)!r}: "
                           f"not a PEM certificate and its private key ({exc})"]) from exc
    return context
