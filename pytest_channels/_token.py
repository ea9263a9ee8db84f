"""Signed tokens (Phoenix.Token): HMAC-SHA256 over JSON, with age read from the runtime clock.

Format: ``base64url(json([data, signed_at_ms, max_age_s])) "." base64url(hmac)``. The key is
derived from the secret and the salt with PBKDF2-HMAC-SHA256, as Plug.Crypto does, and the
signature is compared in constant time. Data must be JSON: nothing is ever unpickled.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from ._errors import TokenError

DEFAULT_MAX_AGE = 86_400


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
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
