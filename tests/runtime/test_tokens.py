from __future__ import annotations

import base64
import json
import math

import pytest

from pytest_channels import TokenError, Tokens

SECRET = "a secret of at least twenty characters"


class FakeWall:
    def __init__(self) -> None:
        self.ms = 1_700_000_000_000

    def __call__(self) -> int:
        return self.ms


@pytest.fixture
def wall() -> FakeWall:
    return FakeWall()


@pytest.fixture
def tokens(wall: FakeWall) -> Tokens:
    return Tokens(SECRET, wall)


def reason(tokens: Tokens, salt: str, token: str | None, **kwargs: float) -> str:
    with pytest.raises(TokenError) as info:
        tokens.verify(salt, token, **kwargs)
    return info.value.reason


def test_a_signed_value_verifies_with_the_same_salt(tokens: Tokens) -> None:
    assert tokens.verify("salt", tokens.sign("salt", {"user": 1})) == {"user": 1}


def test_a_token_is_refused_as_invalid_with_another_salt_or_secret(tokens: Tokens, wall: FakeWall) -> None:
    token = tokens.sign("salt", 1)
    assert reason(tokens, "other", token) == "invalid"
    assert reason(Tokens(SECRET + "!", wall), "salt", token) == "invalid"


@pytest.mark.parametrize("token", ["nonsense", "a.b.c", "", "e30.AAAA"])
def test_a_malformed_token_is_invalid(tokens: Tokens, token: str) -> None:
    assert reason(tokens, "salt", token) == "invalid"


def test_a_tampered_body_is_invalid(tokens: Tokens) -> None:
    _, signature = tokens.sign("salt", 1).split(".")
    forged = base64.urlsafe_b64encode(json.dumps([2, 1_700_000_000_000, 86400]).encode()).decode().rstrip("=")
    assert reason(tokens, "salt", f"{forged}.{signature}") == "invalid"


def test_a_missing_token_is_missing(tokens: Tokens) -> None:
    assert reason(tokens, "salt", None) == "missing"


def test_a_token_expires_after_its_max_age(tokens: Tokens, wall: FakeWall) -> None:
    token = tokens.sign("salt", 1, max_age=60)
    wall.ms += 60_000
    assert tokens.verify("salt", token) == 1
    wall.ms += 1
    assert reason(tokens, "salt", token) == "expired"
    assert tokens.verify("salt", token, max_age=math.inf) == 1


def test_max_age_at_verify_overrides_the_embedded_one(tokens: Tokens, wall: FakeWall) -> None:
    token = tokens.sign("salt", 1)
    wall.ms += 10_000
    assert reason(tokens, "salt", token, max_age=5) == "expired"
    assert reason(tokens, "salt", token, max_age=0) == "expired"


def test_a_token_signed_in_the_future_is_invalid(tokens: Tokens, wall: FakeWall) -> None:
    token = tokens.sign("salt", 1, signed_at=wall.ms / 1000 + 10)
    assert reason(tokens, "salt", token) == "invalid"


def test_token_data_is_json_never_pickle(tokens: Tokens) -> None:
    body = tokens.sign("salt", ["a", 1]).split(".")[0]
    decoded = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert decoded == [["a", 1], 1_700_000_000_000, 86400]


def test_data_that_is_not_json_is_refused_when_signing(tokens: Tokens) -> None:
    with pytest.raises(TypeError, match=r"^token data must be JSON-serializable \(got \{1, 2\}\)"):
        tokens.sign("salt", {1, 2})


@pytest.mark.parametrize("secret", ["short", ["a secret of twenty chars or more", "short"], []])
def test_a_short_secret_or_an_empty_list_is_refused(wall: FakeWall, secret: str | list[str]) -> None:
    with pytest.raises(ValueError, match=r"^secret_key_base must be a str of at least 20 characters, or a list"):
        Tokens(secret, wall)


def test_rotating_secrets_signs_with_the_first_and_still_verifies_with_the_old_until_it_is_dropped(
    wall: FakeWall,
) -> None:
    old_secret, new_secret = "the secret of last year, 20+ chars", "the secret of this year, 20+ chars"
    before = Tokens(old_secret, wall).sign("salt", "old")
    rotated = Tokens([new_secret, old_secret], wall)
    after = rotated.sign("salt", "new")
    assert rotated.verify("salt", before) == "old"
    assert Tokens(new_secret, wall).verify("salt", after) == "new"  # the first secret signs
    with pytest.raises(TokenError, match="invalid"):
        Tokens(new_secret, wall).verify("salt", before)  # dropped: the old tokens die


def test_a_signature_with_non_ascii_characters_is_invalid_not_a_crash(tokens: Tokens) -> None:
    body = tokens.sign("salt", 1).split(".")[0]
    assert reason(tokens, "salt", f"{body}.é") == "invalid"


def test_signing_with_an_infinite_max_age_says_to_pass_it_when_verifying(tokens: Tokens) -> None:
    with pytest.raises(ValueError, match=r"^max_age must be a finite number of seconds \(got inf\); pass math.inf"):
        tokens.sign("salt", 1, max_age=math.inf)
