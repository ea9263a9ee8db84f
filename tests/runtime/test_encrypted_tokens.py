"""Encrypted tokens interoperate with Phoenix.Token.encrypt / decrypt.

The vectors were made by Plug.Crypto's own source (2.x, and 1.2.5 for the AES-GCM format)
running under Elixir, with `vectors/phoenix_token_vectors.exs`; see that file for how. The
suite itself needs no Elixir: the tokens and the term bytes are pinned here.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import pytest

from pytest_channels import Atom, TokenError, Tokens
from pytest_channels._runtime._etf import decode, encode
from pytest_channels.testing import ChannelCase

pytest.importorskip("cryptography")

KEY_BASE = "pytest-channels interoperability vectors: a secret key base of 64 bytes"
SIGNED_MS = 1_700_000_000_000
MISC: tuple[Any, ...] = (None, True, False, 1.5, -123_456_789_012_345_678_901, b"\xff\x00", [1, 2, 3], [])

# (salt, data, term_to_binary({data, SIGNED_MS, 3600}) as OTP 26 writes it)
TERMS: list[tuple[str, Any, str]] = [
    ("user", 42, "836803612a6e06000068e5cf8b016200000e10"),
    ("user", "José", "8368036d000000054a6f73c3a96e06000068e5cf8b016200000e10"),
    (
        "session",
        {"user_id": 7, "roles": ["admin", "editor"]},
        "83680374000000026d00000005726f6c65736c000000026d0000000561646d696e6d00000006656469746f726a6d0000000775"
        "7365725f696461076e06000068e5cf8b016200000e10",
    ),
    (
        "session",
        {Atom("user_id"): 7, Atom("roles"): [Atom("admin")]},
        "83680374000000027705726f6c65736c00000001770561646d696e6a7707757365725f696461076e06000068e5cf8b016200000e10",
    ),
    (
        "misc",
        MISC,
        "836803680877036e696c770474727565770566616c7365463ff80000000000006e0901356c362f819f4eb1066d00000002ff006"
        "b00030102036a6e06000068e5cf8b016200000e10",
    ),
]

# Plug.Crypto 2.x (Phoenix today): XChaCha20-Poly1305, signed_at 1_700_000_000, max_age 3600.
PHOENIX_XCP = [
    "XCP.JfLKdAJ55iOdp2qMj0J7AQmXoYRYVEaC1Ln2xd1BA4Hl2u_YbP4DdVgz2Bf80qfOjIfJ-6DrZ6OnCX0",
    "XCP.8BtgZRMWHeut1Vy6Kdha0EUYeZ0i3uLJEo9ze9tTTedLaRLqAL4kIwXWvNLOV-nc_yK8I3XRwvWYo1V2Q4YGouQqRw",
    "XCP.nUg6RDKPcdqqvQ8E9Ojso3UVJaW8xKbefYYZp3TMtl5fxIX3O3e4T1h0oOOgrXp3pUl-fSS4aic4fCABGXSnrOZMgthEGEv57wRlw"
    "T5kSXQszhjmbt5iE9yBa1uFcwk1d2CumJO0fb3_dOSDgZ_y_MY",
    "XCP.7E5uCQaeOA3Ts6NqKp6mH-rPOIPmLOxgWbs10c00cDXuMCWNhAYDzFMa-a1rAnPxRs_QLCbKU6Z9nqTwDOHk1KOewo5-dNwUPnXRG"
    "WXJskW4G_yJWSTcK0jYAwUWECzh",
    "XCP.UAzLV-W47SpzbxaRd3EJdGpU-QurP0dd6zzMVB44rmEt7tevJV0oqRkBEidFuWDoVoM80_YqgW_Zlzy-pv2u69qs042Fz0HEMI74R"
    "xBK3QupywEhFarKtxM-5ItDT5dS6aKPs5J8r3cJdWzgVEv8wFPKcQ",
]

# Plug.Crypto 1.2.5: AES-128-GCM with the content key wrapped by AES-256-GCM.
PHOENIX_A128GCM = [
    "QTEyOEdDTQ.0uDpfDbUJS7OKP2tlTxP8glx-QDtn1dwfi0n5tetQNV-gG6gxdE9F3Q7YFo.k2zJ1sVL6sQHP7ph.6PiTcHJPsOBTPNARJGR"
    "0aIJrfg.GDbYZy1M83mRl21XWVoL_A",
    "QTEyOEdDTQ.2GPtrRpAI4vy2uz01UwFUg-KyoCmQZP2gZsobYshNjNjDjW500VbKtOho8M.Saru3mOY7-pE00_f.zA5IdZevW25rDriNpnK"
    "tCwR4si8le2ZPgG5Z.F4rnpV1ajqnWd0itmzwtRQ",
    "QTEyOEdDTQ.9lSPm05bPcPNY-JJKsbfdHUw6n8CrUfF5vnnbFPK1yQDngUxNp3N-RC5F-c.MXYGy59K7swRfg3s.TK-itMqkEXOX33XjBV3"
    "9rw086cOIJjJ2z1N33DZn7t3LAr2vtgIY4nYcbr62lJ5cJ6nHOjqWWoqsu-K7lf23zDyr18OTAa0nRg.ap8dZ5pcEB-4P8XNdgofQA",
    "QTEyOEdDTQ.Gt6ztFYrJ5ARX7o-IROzdEH2XuZCesQOvgUnZ-v_2Yq-XqznTNjcbXax71o._GV4_EouZMQBP0vX.wo8QxlazuzrAZi28RGK"
    "qKlVIEUo-6HiWRZ5WmHmtY6axEy52y2pOX5zU-YM0MfnH7BSrtqnMxUQ.ZTuOyv1G3wVCrGOctEtZPw",
    "QTEyOEdDTQ.4SmO-6w4JKiubNJQZVIDwfTDRtYf5M0qceH2UH1luTACxJ_jyGs-R0VdZHA.L1jWRqatzvG1G4Wo.Kwe4lZ18TyLEkCsvywR"
    "F2dGQvq0VqX4BlwVSqABqKUr0MrGkUBNRAeDCIDdwIZ2CtPvoquHVDH0ZA1JKHaJLv2RSRuTuvJN_hUGw.BvKMd9vDQweNvUMOfLBBfQ",
]

PHOENIX_INFINITY = "XCP.w9z7iKdcBlbpwzh7WeZu6Fc-cA2GJXCxpIwryAmaz143eEiRtslUab_Fo_1eZ6aqLRCV5BlxoGB6g1rHT78Dfms"

# Made here with the IV bytes 0..23; Plug.Crypto.decrypt returned {:ok, data} for each.
OURS_ACCEPTED_BY_PHOENIX = [
    ("user", 42, 3600, "XCP.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXYaxYePUylkpqRBN-fEo4apfKKsr48VgJKrFMY0x9jZj0V50"),
    (
        "session",
        {Atom("user_id"): 7, "name": "ada"},
        3600,
        "XCP.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXBjBMRHN6Nu6pWOk5RtzplSsVsMzhec9LYoQrjTTzuaFPRbTEYFIEwBbHbTFyuXwuSQcJ"
        "7A-OKnoK1Zw-Ughgej5K",
    ),
    (
        "inf",
        "forever",
        math.inf,
        "XCP.AAECAwQFBgcICQoLDA0ODxAREhMUFRYX1gxXH2s5D8kYrffY7gK9F7QDv_DK7dflyZIusr_fzx4v7KVgKa2BG1mmy757jvcP5YM",
    ),
]


def tokens_at(wall_ms: int) -> Tokens:
    return Tokens(KEY_BASE, lambda: wall_ms)


@pytest.mark.parametrize(("vector", "expected"), list(zip(PHOENIX_XCP, TERMS, strict=True)))
def test_a_token_phoenix_encrypted_decrypts_to_its_data(vector: str, expected: tuple[str, Any, str]) -> None:
    salt, data, _ = expected
    assert tokens_at(SIGNED_MS + 1000).decrypt(salt, vector) == data


@pytest.mark.parametrize(("vector", "expected"), list(zip(PHOENIX_A128GCM, TERMS, strict=True)))
def test_an_aes_gcm_token_from_plug_crypto_1_decrypts_too(vector: str, expected: tuple[str, Any, str]) -> None:
    salt, data, _ = expected
    assert tokens_at(SIGNED_MS).decrypt(salt, vector) == data


@pytest.mark.parametrize(("salt", "data", "term"), TERMS)
def test_the_data_is_written_byte_for_byte_as_erlangs_term_to_binary(salt: str, data: Any, term: str) -> None:
    assert encode((data, SIGNED_MS, 3600)).hex() == term
    assert decode(bytes.fromhex(term)) == (data, SIGNED_MS, 3600)


def test_atoms_come_back_as_atoms_and_strings_as_str() -> None:
    data = tokens_at(SIGNED_MS).decrypt("session", PHOENIX_XCP[3])
    assert [type(key) for key in data] == [Atom, Atom]
    assert data["roles"] == [Atom("admin")]
    assert type(tokens_at(SIGNED_MS).decrypt("user", PHOENIX_XCP[1])) is str


@pytest.mark.parametrize(("salt", "data", "max_age", "token"), OURS_ACCEPTED_BY_PHOENIX)
def test_a_token_encrypted_here_is_the_one_phoenix_accepted(salt: str, data: Any, max_age: float, token: str) -> None:
    from pytest_channels._runtime._token import _derive_key, encrypt_message

    embedded = Atom("infinity") if math.isinf(max_age) else max_age
    message = encode((data, SIGNED_MS, embedded))
    assert encrypt_message(message, _derive_key(KEY_BASE, salt), iv=bytes(range(24))) == token
    assert tokens_at(SIGNED_MS).decrypt(salt, token) == data


def test_a_token_from_another_secret_key_base_is_refused_clearly() -> None:
    other = Tokens("another secret key base, also long enough", lambda: SIGNED_MS)
    with pytest.raises(TokenError) as info:
        other.decrypt("user", PHOENIX_XCP[0])
    assert info.value.reason == "invalid"
    assert str(info.value) == (
        "invalid: the token could not be decrypted: it was encrypted with another secret key base or secret, "
        "or it was altered"
    )


def test_rotating_secrets_encrypts_with_the_first_and_still_decrypts_with_the_old() -> None:
    rotated = Tokens(["the secret of this year, 20+ chars", KEY_BASE], lambda: SIGNED_MS)
    assert rotated.decrypt("user", PHOENIX_XCP[0]) == tokens_at(SIGNED_MS).decrypt("user", PHOENIX_XCP[0])
    fresh = rotated.encrypt("user", {"id": 1})
    assert Tokens("the secret of this year, 20+ chars", lambda: SIGNED_MS).decrypt("user", fresh) == {"id": 1}
    with pytest.raises(TokenError, match=r"^invalid"):
        tokens_at(SIGNED_MS).decrypt("user", fresh)  # the old secret alone no longer opens new tokens


def test_a_token_for_another_secret_or_altered_is_invalid() -> None:
    tokens = tokens_at(SIGNED_MS)
    for salt, token in [("admin", PHOENIX_XCP[0]), ("user", PHOENIX_XCP[0][:-2] + "AA"), ("user", "XCP.")]:
        with pytest.raises(TokenError, match=r"^invalid") as info:
            tokens.decrypt(salt, token)
        assert info.value.reason == "invalid"


def test_a_signed_token_is_not_an_encrypted_one() -> None:
    tokens = tokens_at(SIGNED_MS)
    with pytest.raises(TokenError, match=r"^invalid"):
        tokens.decrypt("user", tokens.sign("user", 1))


def test_age_follows_plug_crypto() -> None:
    token = PHOENIX_XCP[0]  # signed at SIGNED_MS with max_age 3600
    assert tokens_at(SIGNED_MS + 3_600_000).decrypt("user", token) == 42  # the last instant still counts
    with pytest.raises(TokenError, match=r"^expired$"):
        tokens_at(SIGNED_MS + 3_600_001).decrypt("user", token)
    with pytest.raises(TokenError, match=r"^invalid: the token was signed in the future$"):
        tokens_at(SIGNED_MS - 1).decrypt("user", token)
    assert tokens_at(SIGNED_MS + 10**12).decrypt("user", token, max_age=math.inf) == 42
    with pytest.raises(TokenError, match=r"^expired$"):
        tokens_at(SIGNED_MS).decrypt("user", token, max_age=0)
    assert tokens_at(SIGNED_MS + 10**12).decrypt("user", PHOENIX_INFINITY) == 1  # max_age: :infinity inside


def test_a_missing_token_is_missing() -> None:
    with pytest.raises(TokenError, match=r"^missing$"):
        tokens_at(SIGNED_MS).decrypt("user", None)


def test_encrypted_tokens_age_in_virtual_time(channels: ChannelCase) -> None:
    tokens = channels.runtime.tokens
    token = tokens.encrypt("user", {"id": 1}, max_age=60)
    channels.advance(60)
    assert tokens.decrypt("user", token) == {"id": 1}
    channels.advance(0.001)
    with pytest.raises(TokenError, match=r"^expired$"):
        tokens.decrypt("user", token)


def test_data_with_no_erlang_term_is_refused_when_encrypting() -> None:
    with pytest.raises(TypeError, match=r"token data must be made of Erlang terms \(got \{1, 2\}\): set"):
        tokens_at(SIGNED_MS).encrypt("user", {1, 2})


def test_a_term_with_no_python_value_is_refused() -> None:
    pid = bytes.fromhex("83") + bytes([88]) + bytes(10)
    with pytest.raises(ValueError, match="has no Python value"):
        decode(pid)


def test_without_cryptography_encrypting_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.ciphers", None)
    with pytest.raises(ImportError, match=r"pip install 'pytest-channels\[crypto\]'"):
        tokens_at(SIGNED_MS).encrypt("user", 1)
