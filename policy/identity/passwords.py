"""Password hashing with the standard library's scrypt (memory-hard KDF)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# OWASP's scrypt floor (N=2^17, r=8, p=1) costs ~128 MiB and ~0.3 s here; 2^15 keeps a
# sign-in near 60 ms on a 2-core box while staying far above brute-force budgets for
# the passwords a control room uses. The parameters are stored per hash, so raising
# them later re-hashes nobody's password wrongly.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
_MAXMEM = 128 * SCRYPT_R * (SCRYPT_N + 2) * 2


def hash_password(password: str) -> str:
    """Return 'scrypt$N$r$p$salt$hash' for `password`."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=_MAXMEM, dklen=32
    )
    enc = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${enc(salt).decode()}${enc(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of `password` against a stored hash; False for any malformed hash."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        n_i, r_i, p_i = int(n), int(r), int(p)
        digest = hashlib.scrypt(
            password.encode(),
            salt=salt,
            n=n_i,
            r=r_i,
            p=p_i,
            maxmem=128 * r_i * (n_i + 2) * 2,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, expected)


# A hash of a random password, checked when the user does not exist, so a failed
# sign-in takes as long for an unknown name as for a wrong password.
DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
