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
import threading
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
RANDOM_READ_BYTES = 4096


class SealError(ValueError):
    """A sealed value that does not open with its key (corrupt, or not what it claims to be)."""


class _OsRandom:
    """The operating system's random bytes (``os.urandom``), read 4 KB at a time.

    Every ``os.urandom`` call releases the GIL for its system call, and getting it back can
    wait out the SQLite writer thread's turn (21 us a call on a busy command loop under
    cProfile, 0.3 us alone); a placement needs three or four (the customer's key, its
    wrapping nonce, the sealing nonces). The bytes are the same generator's, each handed out
    once; a forked child starts with none of its parent's (nor its lock).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._at = 0

    def take(self, count: int) -> bytes:
        with self._lock:
            if self._at + count > len(self._buffer):
                self._buffer = os.urandom(max(RANDOM_READ_BYTES, count))
                self._at = 0
            taken = self._buffer[self._at : self._at + count]
            self._at += count
            return taken

    def forget(self) -> None:
        self._lock = threading.Lock()  # another thread may have held it at the fork
        self._buffer = b""
        self._at = 0


_os_random = _OsRandom()
os.register_at_fork(after_in_child=_os_random.forget)
random_bytes = _os_random.take


def new_key() -> bytes:
    return random_bytes(KEY_BYTES)


def seal(cipher: AESGCM, values: dict[str, Any], context: str) -> str:
    nonce = random_bytes(NONCE_BYTES)
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
        nonce = random_bytes(NONCE_BYTES)
        return base64.b64encode(nonce + self.cipher.encrypt(nonce, key, context.encode())).decode()

    def unwrap(self, wrapped: str, context: str) -> bytes:
        try:
            raw = binascii.a2b_base64(wrapped)
            return self.cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except (InvalidTag, ValueError, binascii.Error) as error:
            raise SealError(f"a wrapped key for {context} does not open: {error!r}") from error
