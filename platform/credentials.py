"""Secret handling: keyed digests for generated secrets, encryption for readable device keys.

Generated secrets are 128-bit random, so a keyed SHA-256 digest is as strong as a slow hash
for them and costs microseconds. The master password keeps Django's PBKDF2 hash; its
successful verifications are remembered for a short time under a keyed digest of the
presented credential, so a busy device is not re-hashed on every request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


@cache
def _digest_key() -> bytes:
    return hashlib.sha256(b"plugboard-digest:" + settings.SECRET_KEY.encode()).digest()


@cache
def _fernet() -> Fernet:
    key = hashlib.sha256(b"plugboard-encrypt:" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def secret_digest(secret: str) -> str:
    """Keyed digest of a secret (hex): what is stored and compared, never the secret."""
    return hmac.new(_digest_key(), secret.encode(), hashlib.sha256).hexdigest()


def digests_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def secret_encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def secret_decrypt(token: str) -> str | None:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return None
