"""API keys for tests: made in the test run's own schema, as `inventory keys create` would."""

from __future__ import annotations

from inventory.settings import Settings
from storage.api_keys import KeyInfo, create_key
from storage.engine import create_engine
from storage.migrate import migrate


async def make_key(settings: Settings, role: str = "admin", name: str = "tests") -> str:
    """A new key of `role` in `settings`' schema (migrated first if needed)."""
    _, key = await make_key_info(settings, role, name)
    return key


async def make_key_info(
    settings: Settings, role: str = "admin", name: str = "tests"
) -> tuple[KeyInfo, str]:
    """(what `inventory keys list` shows of it, the key)."""
    engine = create_engine(settings)
    try:
        await migrate(engine, settings.database_schema)
        return await create_key(engine, role, name)
    finally:
        await engine.dispose()


def bearer(key: str) -> dict[str, str]:
    """The header that presents `key`."""
    return {"Authorization": f"Bearer {key}"}
