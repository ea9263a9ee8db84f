"""Plug.Crypto's MessageEncryptor: the authenticated encryption under `Phoenix.Token.encrypt`.

Plug.Crypto 2.x (what Phoenix uses today) writes ``"XCP." base64url(iv24 tag16 ciphertext)``:
XChaCha20-Poly1305, whose subkey comes from HChaCha20 over the first 16 bytes of the random
24-byte IV, with the additional data ``"A128GCM"``. It still reads the tokens of Plug.Crypto
1.x, ``base64url("A128GCM") "." wrapped_key "." iv "." ciphertext "." tag``: AES-GCM with a
random content key, wrapped by AES-256-GCM under the secret (RFC 7518, section 4.7). Both
are read here; tokens are written as 2.x does.

The ciphers come from the `cryptography` package (the `crypto` extra), imported only when a
token is encrypted or decrypted.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from typing import Any

AAD = b"A128GCM"
_XCP = "XCP."
_A128GCM = "QTEyOEdDTQ."  # base64url("A128GCM"), the header of Plug.Crypto 1.x tokens
_SIGMA = struct.unpack("<4I", b"expand 32-byte k")


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if "=" in text:  # Base.url_decode64(padding: false) refuses padding
        raise ValueError("padded base64")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _primitives() -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, aead, algorithms
    except ImportError:
        raise ImportError(
            "encrypted tokens need the cryptography package: pip install 'pytest-channels[crypto]'"
        ) from None
    return Cipher, aead, algorithms


def _hchacha20(key: bytes, nonce16: bytes) -> bytes:
    """HChaCha20 from one ChaCha20 block, as Plug.Crypto computes it.

    A ChaCha20 block is the input state plus the state after 20 rounds; HChaCha20 is words
    0-3 and 12-15 of the latter. `cryptography` takes a 16-byte nonce (counter and nonce),
    which fills exactly words 12-15, so the input state is known and can be subtracted.
    """
    cipher_class, _, algorithms = _primitives()
    block = cipher_class(algorithms.ChaCha20(key, nonce16), mode=None).encryptor().update(bytes(64))
    words = struct.unpack("<16I", block)
    nonce_words = struct.unpack("<4I", nonce16)
    head = [(words[i] - _SIGMA[i]) & 0xFFFFFFFF for i in range(4)]
    tail = [(words[12 + i] - nonce_words[i]) & 0xFFFFFFFF for i in range(4)]
    return struct.pack("<8I", *head, *tail)


def encrypt(message: bytes, secret: bytes, *, iv: bytes | None = None) -> str:
    """Encrypt `message` under the 32-byte `secret` (`MessageEncryptor.encrypt/3`).

    `iv` is for test vectors only: a fresh random one is the default, and the point.
    """
    if len(secret) != 32:
        raise ValueError(f"the secret must be 32 bytes (got {len(secret)})")
    _, aead, _ = _primitives()
    iv = os.urandom(24) if iv is None else iv
    subkey = _hchacha20(secret, iv[:16])
    sealed = aead.ChaCha20Poly1305(subkey).encrypt(bytes(4) + iv[16:], message, AAD)
    cipher_text, tag = sealed[:-16], sealed[-16:]
    return _XCP + _b64encode(iv + tag + cipher_text)


def decrypt(token: str, secret: bytes) -> bytes | None:
    """The message in `token`, or None when it is not one that `secret` encrypted (or was altered)."""
    _, aead, _ = _primitives()
    from cryptography.exceptions import InvalidTag

    try:
        if token.startswith(_XCP):
            raw = _b64decode(token[len(_XCP) :])
            if len(raw) < 40:
                return None
            iv, tag, cipher_text = raw[:24], raw[24:40], raw[40:]
            subkey = _hchacha20(secret, iv[:16])
            return bytes(aead.ChaCha20Poly1305(subkey).decrypt(bytes(4) + iv[16:], cipher_text + tag, AAD))
        if token.startswith(_A128GCM):
            parts = token[len(_A128GCM) :].split(".")
            if len(parts) != 4:
                return None
            wrapped, iv, cipher_text, tag = (_b64decode(part) for part in parts)
            if len(iv) != 12 or len(tag) != 16 or len(wrapped) not in (44, 52, 60):
                return None
            # The wrapped key is ciphertext, tag, then IV; the additional data is Plug's empty sign_secret.
            key = aead.AESGCM(secret).decrypt(wrapped[-12:], wrapped[:-12], b"")
            return bytes(aead.AESGCM(key).decrypt(iv, cipher_text + tag, AAD))
    except (InvalidTag, ValueError, binascii.Error):
        return None
    return None
