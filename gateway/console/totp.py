"""The console's second factor: TOTP (RFC 6238, HMAC-SHA1, 6 digits, 30 s) and recovery codes,
with the standard library only.

The TOTP secret is stored encrypted (Fernet, RIGHTSLINE_ENCRYPTION_KEY, as phone numbers are);
recovery codes are stored as SHA-256 (each is 80 random bits, so a hash cannot be guessed
back) and used once. Nothing here logs a secret or a code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from datetime import datetime
from urllib.parse import quote, urlencode

from cryptography.fernet import Fernet, InvalidToken

STEP_SECONDS = 30
DIGITS = 6
# A code of the step before or after is accepted too (clock drift, typing time).
DRIFT_STEPS = 1
SECRET_BYTES = 20  # RFC 4226's recommended 160 bits
ISSUER = "Rightsline console"
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 symbols: 5 bits each, no 0/O 1/I


def new_secret() -> str:
    """A new base32 secret (what authenticator apps take), without padding."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def _key(secret_b32: str) -> bytes:
    cleaned = secret_b32.replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def step_of(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def code_at(secret_b32: str, step: int, digits: int = DIGITS) -> str:
    """RFC 4226 HOTP of the time step (RFC 6238 TOTP with SHA-1)."""
    mac = hmac.new(_key(secret_b32), struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def matching_step(secret_b32: str, code: str, now: datetime) -> int | None:
    """The time step whose code `code` is (within DRIFT_STEPS of now), or None."""
    code = "".join(code.split())
    if len(code) != DIGITS or not code.isdigit():
        return None
    current = step_of(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Compare every candidate (no early exit), in constant time.
        if hmac.compare_digest(code_at(secret_b32, step).encode(), code.encode()):
            found = step
    return found


def otpauth_uri(secret_b32: str, username: str) -> str:
    label = quote(f"{ISSUER}:{username}", safe="")
    query = urlencode({"secret": secret_b32, "issuer": ISSUER, "algorithm": "SHA1",
                       "digits": DIGITS, "period": STEP_SECONDS}, quote_via=quote)
    return f"otpauth://totp/{label}?{query}"


def grouped(secret_b32: str) -> str:
    """The secret in groups of four, for typing into an app by hand."""
    return " ".join(secret_b32[i:i + 4] for i in range(0, len(secret_b32), 4))


# --- recovery codes ---------------------------------------------------------------------

def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """Codes like "ABCD-EFGH-JKLM-NPQR" (16 symbols, 80 random bits)."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
        codes.append("-".join(raw[i:i + 4] for i in range(0, 16, 4)))
    return codes


def normalise_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def looks_like_recovery_code(code: str) -> bool:
    return len(normalise_recovery_code(code)) == 16


def hash_recovery_code(code: str) -> str:
    return hashlib.sha256(normalise_recovery_code(code).encode("ascii", "replace")).hexdigest()


# --- the secret at rest -----------------------------------------------------------------

class SecretBox:
    """Encrypts TOTP secrets at rest with the same key as phone numbers."""

    def __init__(self, encryption_key: str) -> None:
        self._fernet = Fernet(encryption_key.encode())

    def encrypt(self, secret_b32: str) -> str:
        return self._fernet.encrypt(secret_b32.encode("ascii")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise ValueError("cannot decrypt a stored second factor "
                             "(wrong RIGHTSLINE_ENCRYPTION_KEY?)") from exc
