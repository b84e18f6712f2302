"""Staff console passwords: scrypt from the standard library, in a self-describing string.

Stored form: "scrypt$<n>$<r>$<p>$<salt base64>$<hash base64>", so the cost can be raised later
and old hashes still verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import unicodedata

SCHEME = "scrypt"
N, R, P = 2**15, 8, 1
SALT_BYTES = 16
HASH_BYTES = 32
MIN_LENGTH = 12
MAX_LENGTH = 1024
# Refuse absurd parameters from a tampered or corrupt stored string.
_MAX_N, _MAX_R, _MAX_P = 2**20, 32, 16


def _maxmem(n: int, r: int, p: int) -> int:
    # scrypt needs about 128 * r * (n + p) bytes; OpenSSL's default cap (32 MiB) is exactly
    # what n=2**15, r=8 needs, and OpenSSL refuses it, so give headroom.
    return 128 * r * (n + p) + 16 * 1024 * 1024


def _derive(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    secret = unicodedata.normalize("NFKC", password).encode("utf-8")
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, maxmem=_maxmem(n, r, p),
                          dklen=length)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    salt = os.urandom(SALT_BYTES)
    digest = _derive(password, salt, N, R, P, HASH_BYTES)
    return f"{SCHEME}${N}${R}${P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str | None) -> bool:
    """True only when `stored` is a well-formed hash of `password`; never raises."""
    if not stored or not isinstance(password, str) or len(password) > MAX_LENGTH:
        return False
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return False
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        return False
    if not (1 < n <= _MAX_N and n & (n - 1) == 0 and 0 < r <= _MAX_R and 0 < p <= _MAX_P):
        return False
    if not salt or not expected:
        return False
    actual = _derive(password, salt, n, r, p, len(expected))
    return hmac.compare_digest(actual, expected)


def check_password_strength(password: str) -> None:
    """Raise ValueError (with a message fit to show) when the password is too weak."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"the password must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise ValueError(f"the password must be at most {MAX_LENGTH} characters long")
    if len(set(password)) < 4:
        raise ValueError("the password uses too few different characters")
