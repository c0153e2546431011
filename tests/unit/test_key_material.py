"""API keys as strings, what is stored of them, and the settings around them."""

from __future__ import annotations

import pytest

from inventory.settings import DefaultCommandKey, Settings
from storage.key_material import KEY_PREFIX, generate_key, hash_key, new_key_id, well_formed


def test_a_new_key_is_well_formed_and_unique() -> None:
    keys = {generate_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(k.startswith(KEY_PREFIX) and well_formed(k) for k in keys)


def test_only_a_hash_is_stored_and_it_tells_nothing_of_the_key() -> None:
    key = generate_key()
    digest = hash_key(key)
    assert len(digest) == 32 and digest == hash_key(key)
    assert key.encode() not in digest and key[4:].encode() not in digest


def test_a_key_id_is_not_derived_from_the_key() -> None:
    assert new_key_id() != new_key_id()
    assert new_key_id().startswith("key_")


@pytest.mark.parametrize(
    "text",
    ["", "isk_", "isk_short", "Bearer isk_" + "a" * 43, "xsk_" + "a" * 43, "isk_" + "a" * 44],
)
def test_anything_else_is_malformed(text: str) -> None:
    assert not well_formed(text)


def test_the_default_command_key_is_refused_outside_development() -> None:
    with pytest.raises(DefaultCommandKey, match="INTERNAL_COMMAND_KEY"):
        Settings(environment="production").require_own_command_key("worker")
    Settings(environment="development").require_own_command_key("worker")
    Settings(environment="production", internal_command_key="s3cret").require_own_command_key(
        "worker"
    )


def test_rate_limits_are_per_role_and_the_cache_at_most_two_seconds() -> None:
    settings = Settings(rate_limit_viewer=3.0)
    assert settings.rate_limit_of("viewer") == 3.0
    assert settings.rate_limit_of("admin") == Settings().rate_limit_admin
    with pytest.raises(ValueError):
        Settings(auth_cache_seconds=2.5)
