"""Phone numbers: a keyed hash identifies a sender; the number itself is stored only encrypted."""

from __future__ import annotations

import hashlib
import hmac
import re

from cryptography.fernet import Fernet, InvalidToken

_NOT_DIGITS = re.compile(r"[^\d+]")


def normalise_number(number: str) -> str:
    return _NOT_DIGITS.sub("", number.strip())


class NumberVault:
    def __init__(self, hash_key: str, encryption_key: str) -> None:
        self._hash_key = hash_key.encode()
        self._fernet = Fernet(encryption_key.encode())

    def sender_hash(self, number: str) -> str:
        return hmac.new(self._hash_key, normalise_number(number).encode(), hashlib.sha256).hexdigest()

    def encrypt(self, number: str) -> str:
        return self._fernet.encrypt(normalise_number(number).encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("cannot decrypt a stored number (wrong RIGHTSLINE_ENCRYPTION_KEY?)") from exc
