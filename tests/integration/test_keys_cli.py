"""`inventory keys create|list|revoke` as an operator runs them, and the worker and
gateway that refuse the derived internal command key outside development."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from inventory.settings import Settings
from storage.api_keys import list_keys
from storage.key_material import hash_key, well_formed
from tests.support.pipeline import isolated, own_schema
from tests.support.processes import ROOT, settings_env

pytestmark = pytest.mark.integration


def inventory(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inventory.cli", *args],
        cwd=ROOT,
        env={**os.environ, **settings_env(settings), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def run(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(inventory, settings, *args, **env)


async def test_create_prints_the_key_once_list_never_shows_it_and_revoke_marks_it(
    settings: Settings,
) -> None:
    own = isolated(settings, "keys")
    async with own_schema(own) as engine:
        created = await run(own, "keys", "create", "--role", "storefront", "--name", "web shop")
        assert created.returncode == 0, created.stderr
        key = created.stdout.strip().splitlines()[-1]
        assert well_formed(key)
        [stored] = await list_keys(engine)
        assert (stored.role, stored.name, stored.revoked_at) == ("storefront", "web shop", None)
        assert stored.id in created.stdout

        listed = await run(own, "keys", "list")
        assert listed.returncode == 0, listed.stderr
        [row] = [line for line in listed.stdout.splitlines() if stored.id in line]
        assert re.search(rf"{stored.id}\s+storefront\s+\S+\s+-\s+-\s+web shop$", row), row
        for output in (listed.stdout, listed.stderr, created.stderr):
            assert key not in output and hash_key(key).hex() not in output

        revoked = await run(own, "keys", "revoke", stored.id)
        assert revoked.returncode == 0, revoked.stderr
        [stored] = await list_keys(engine)
        assert stored.revoked_at is not None
        listed = await run(own, "keys", "list")
        assert stored.revoked_at.isoformat(timespec="seconds") in listed.stdout

        unknown = await run(own, "keys", "revoke", "key_nope")
        assert unknown.returncode == 1 and "no key 'key_nope'" in unknown.stderr


async def test_create_refuses_an_unknown_role(settings: Settings) -> None:
    refused = await run(settings, "keys", "create", "--role", "root", "--name", "x")
    assert refused.returncode == 2 and "invalid choice" in refused.stderr


@pytest.mark.parametrize("role", ["worker", "gateway"])
async def test_the_default_command_key_is_refused_in_production(
    settings: Settings, role: str
) -> None:
    refused = await run(settings, role, ENVIRONMENT="production", INTERNAL_COMMAND_KEY="")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "INTERNAL_COMMAND_KEY" in refused.stderr


async def test_make_run_makes_a_local_admin_key_once_and_keeps_it(
    settings: Settings, tmp_path: Path
) -> None:
    own = isolated(settings, "localkey")
    key_file = tmp_path / "admin.key"

    def local_admin_key() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ROOT / "scripts" / "local_admin_key.sh")],
            env={**os.environ, **settings_env(own), "ADMIN_KEY_FILE": str(key_file)},
            capture_output=True,
            text=True,
            timeout=120,
        )

    async with own_schema(own) as engine:
        first = await asyncio.to_thread(local_admin_key)
        assert first.returncode == 0, first.stderr
        key = key_file.read_text().strip()
        assert well_formed(key) and key in first.stdout
        assert key_file.stat().st_mode & 0o777 == 0o600
        again = await asyncio.to_thread(local_admin_key)
        assert again.returncode == 0, again.stderr
        assert key not in again.stdout and str(key_file) in again.stdout
        [stored] = await list_keys(engine)
        assert stored.role == "admin"
