"""AES-256-GCM, through the ``cryptography`` package: sealing personal values and wrapping keys.

A sealed value is ``nonce || ciphertext+tag`` in base64, with a random 96-bit nonce
(each customer's key seals few values, far below GCM's limit for random nonces). The
associated data binds a sealed value to where it belongs (the order and the event type), so
it cannot be moved to another order and read there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12


class SealError(ValueError):
    """A sealed value that does not open with its key (corrupt, or not what it claims to be)."""


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def seal(cipher: AESGCM, values: dict[str, Any], context: str) -> str:
    nonce = os.urandom(NONCE_BYTES)
    sealed = cipher.encrypt(nonce, orjson.dumps(values), context.encode())
    return base64.b64encode(nonce + sealed).decode()


def unseal(cipher: AESGCM, text: str, context: str) -> dict[str, Any]:
    try:
        raw = binascii.a2b_base64(text)
        opened = orjson.loads(
            cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        )
    except (InvalidTag, ValueError, binascii.Error) as error:
        raise SealError(f"a sealed value for {context} does not open: {error!r}") from error
    if not isinstance(opened, dict):
        raise SealError(f"a sealed value for {context} is not an object")
    return opened


@dataclass(frozen=True)
class KeyEncryptionKey:
    """Wraps customers' keys at rest. Its id (a digest prefix) says which one wrapped a key."""

    id: str
    cipher: AESGCM

    @classmethod
    def from_bytes(cls, key: bytes) -> KeyEncryptionKey:
        if len(key) != KEY_BYTES:
            raise ValueError(f"a key-encryption key is {KEY_BYTES} bytes, got {len(key)}")
        return cls(hashlib.sha256(b"orders-kek\n" + key).hexdigest()[:12], AESGCM(key))

    @classmethod
    def from_text(cls, text: str) -> KeyEncryptionKey:
        """From base64 (standard or URL-safe) of 32 random bytes: ``openssl rand -base64 32``."""
        stripped = text.strip()
        try:
            raw = base64.b64decode(stripped.replace("-", "+").replace("_", "/"), validate=True)
        except ValueError as error:
            raise ValueError("is not base64 (make one with `openssl rand -base64 32`)") from error
        return cls.from_bytes(raw)

    def wrap(self, key: bytes, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        return base64.b64encode(nonce + self.cipher.encrypt(nonce, key, context.encode())).decode()

    def unwrap(self, wrapped: str, context: str) -> bytes:
        try:
            raw = binascii.a2b_base64(wrapped)
            return self.cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except (InvalidTag, ValueError, binascii.Error) as error:
            raise SealError(f"a wrapped key for {context} does not open: {error!r}") from error
