"""Signed tokens (Phoenix.Token): HMAC-SHA256 over JSON, with age read from the runtime clock.

Format: ``base64url(json([data, signed_at_ms, max_age_s])) "." base64url(hmac)``. The key is
derived from the secret and the salt with PBKDF2-HMAC-SHA256, as Plug.Crypto does, and the
signature is compared in constant time. Data must be JSON: nothing is ever unpickled.

Encrypted tokens (`encrypt` / `decrypt`) are Phoenix's own format instead, so that a token
made by `Phoenix.Token.encrypt` can be decrypted here and the other way round: the same key
derivation, Erlang's term format for the data (see `_etf`) and Plug.Crypto's
MessageEncryptor (`encrypt_message`, `decrypt_message`).

Plug.Crypto 2.x (what Phoenix uses today) writes ``"XCP." base64url(iv24 tag16 ciphertext)``:
XChaCha20-Poly1305, whose subkey comes from HChaCha20 over the first 16 bytes of the random
24-byte IV, with the additional data ``"A128GCM"``. It still reads the tokens of Plug.Crypto
1.x, ``base64url("A128GCM") "." wrapped_key "." iv "." ciphertext "." tag``: AES-GCM with a
random content key, wrapped by AES-256-GCM under the secret (RFC 7518, section 4.7). Both
are read here; tokens are written as 2.x does. The ciphers come from the `cryptography`
package (the `crypto` extra), imported only when a token is encrypted or decrypted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import os
import struct
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import pytest_channels._runtime._etf as _etf

from ._errors import TokenError

DEFAULT_MAX_AGE = 86_400
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


@lru_cache(maxsize=64)
def _derive_key(secret: str, salt: str) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", secret.encode(), salt.encode(), 1000, 32)


class Tokens:
    """Sign and verify tokens; "now" comes from `wall_ms`.

    Args:
        secret_key_base: the secret, at least 20 characters; or a list of them, newest first,
            to rotate: the first signs, and every one verifies, so tokens signed with an old
            secret stay valid until it is dropped from the list.
        wall_ms: returns the current wall-clock time in milliseconds.

    Example:
        >>> old = Tokens("the old secret, twenty chars or more", wall_ms=lambda: 0)
        >>> tokens = Tokens(["the new secret, twenty chars or more", old.secrets[0]], wall_ms=lambda: 0)
        >>> tokens.verify("user", tokens.sign("user", 42), max_age=60)
        42
        >>> tokens.verify("user", old.sign("user", 7), max_age=60)
        7
    """

    def __init__(self, secret_key_base: str | Sequence[str], wall_ms: Callable[[], int]) -> None:
        secrets = [secret_key_base] if isinstance(secret_key_base, str) else list(secret_key_base)
        if not secrets or any(not isinstance(s, str) or len(s) < 20 for s in secrets):
            raise ValueError("secret_key_base must be a str of at least 20 characters, or a list of them")
        self.secrets: tuple[str, ...] = tuple(secrets)
        self._wall_ms = wall_ms

    def sign(self, salt: str, data: Any, *, max_age: float = DEFAULT_MAX_AGE, signed_at: float | None = None) -> str:
        """Sign JSON `data`. `signed_at` (seconds since the epoch) defaults to now."""
        signed_ms = self._wall_ms() if signed_at is None else round(signed_at * 1000)
        if isinstance(max_age, bool) or not isinstance(max_age, (int, float)) or not math.isfinite(max_age):
            raise ValueError(f"max_age must be a finite number of seconds (got {max_age!r}); pass math.inf to verify")
        try:
            body = json.dumps([data, signed_ms, max_age], separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"token data must be JSON-serializable (got {data!r}): {exc}") from None
        encoded = _b64encode(body.encode())
        return f"{encoded}.{self._signature(salt, encoded, self.secrets[0])}"

    def verify(self, salt: str, token: str | None, *, max_age: float | None = None) -> Any:
        """Return the data in `token`, or raise TokenError("missing" | "invalid" | "expired").

        `max_age` (seconds, or `math.inf`) overrides the age embedded when signing.
        """
        if token is None:
            raise TokenError("missing")
        if not isinstance(token, str) or token.count(".") != 1:
            raise TokenError("invalid")
        encoded, signature = token.split(".")
        given = signature.encode()
        # Every secret is tried, so the time taken does not tell which one signed.
        matched = [hmac.compare_digest(given, self._signature(salt, encoded, s).encode()) for s in self.secrets]
        if not any(matched):
            raise TokenError("invalid")
        try:
            data, signed_ms, embedded_max_age = json.loads(_b64decode(encoded))
        except (ValueError, binascii.Error):
            raise TokenError("invalid") from None
        now_ms = self._wall_ms()
        if signed_ms > now_ms:
            raise TokenError("invalid")
        age_limit = embedded_max_age if max_age is None else max_age
        if age_limit <= 0 or (not math.isinf(age_limit) and signed_ms + age_limit * 1000 < now_ms):
            raise TokenError("expired")
        return data

    def _signature(self, salt: str, encoded: str, secret: str) -> str:
        key = _derive_key(secret, salt)
        return _b64encode(hmac.new(key, encoded.encode(), hashlib.sha256).digest())

    def encrypt(
        self, secret: str, data: Any, *, max_age: float = DEFAULT_MAX_AGE, signed_at: float | None = None
    ) -> str:
        """Encrypt `data` as `Phoenix.Token.encrypt(endpoint, secret, data)` does: Phoenix can decrypt it.

        Needs the `crypto` extra. `data` may hold what Erlang's term format can carry: `None`,
        bools, numbers, `str` (an Elixir string), `bytes`, lists, tuples, dicts and `Atom`s.
        `max_age` may be `math.inf` (Phoenix's `:infinity`); `signed_at` is in seconds since the epoch.
        """
        signed_ms = self._wall_ms() if signed_at is None else math.trunc(signed_at * 1000)
        if isinstance(max_age, bool) or not isinstance(max_age, (int, float)) or math.isnan(max_age):
            raise ValueError(f"max_age must be a number of seconds or math.inf (got {max_age!r})")
        embedded = _etf.Atom("infinity") if math.isinf(max_age) and max_age > 0 else max_age
        try:
            message = _etf.encode((data, signed_ms, embedded))
        except ValueError as exc:
            raise TypeError(f"token data must be made of Erlang terms (got {data!r}): {exc}") from None
        return encrypt_message(message, _derive_key(self.secrets[0], secret))

    def decrypt(self, secret: str, token: str | None, *, max_age: float | None = None) -> Any:
        """Return the data of a token from `encrypt` or Phoenix's `Phoenix.Token.encrypt`.

        Raises TokenError("missing" | "invalid" | "expired") as `verify` does; a token encrypted
        with another secret key base or `secret`, or altered, is "invalid". Atoms come back as
        `Atom` (a `str`), `nil`/`true`/`false` as `None`/`True`/`False`, and binaries as `str`
        when they are UTF-8 (else `bytes`).
        """
        if token is None:
            raise TokenError("missing")
        if not isinstance(token, str):
            raise TokenError("invalid", f"a token is a str (got {type(token).__name__})")
        # Every secret is tried, newest first, so tokens encrypted before a rotation still open.
        message = None
        for base in self.secrets:
            message = decrypt_message(token, _derive_key(base, secret))
            if message is not None:
                break
        if message is None:
            raise TokenError(
                "invalid",
                "the token could not be decrypted: it was encrypted with another secret key base or secret, "
                "or it was altered",
            )
        try:
            term = _etf.decode(message)
        except ValueError as exc:
            raise TokenError("invalid", f"the decrypted token holds no readable data: {exc}") from None
        match term:
            case (data, int() as signed_ms, embedded):
                pass
            case (data, int() as signed_ms):  # Plug.Crypto 1.1 wrote no max age
                embedded = DEFAULT_MAX_AGE
            case {"data": data, "signed": int() as signed_ms}:  # Phoenix before Plug.Crypto
                embedded = DEFAULT_MAX_AGE
            case _:
                raise TokenError("invalid", "the decrypted token is not {data, signed_at, max_age}")
        limit: Any = embedded if max_age is None else max_age
        if limit == "infinity" or (isinstance(limit, float) and math.isinf(limit) and limit > 0):
            return data  # Plug.Crypto checks neither age nor signing time then
        if not isinstance(limit, (int, float)) or isinstance(limit, bool):
            raise TokenError("invalid", f"the token's max age {limit!r} is not a number")
        if limit <= 0:
            raise TokenError("expired")
        now_ms = self._wall_ms()
        if signed_ms > now_ms:
            raise TokenError("invalid", "the token was signed in the future")
        if signed_ms + math.trunc(limit * 1000) < now_ms:
            raise TokenError("expired")
        return data


# -- Plug.Crypto's MessageEncryptor ------------------------------------------------------------------


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


def encrypt_message(message: bytes, secret: bytes, *, iv: bytes | None = None) -> str:
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


def decrypt_message(token: str, secret: bytes) -> bytes | None:
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
