"""The gateway's Idempotency-Key store against real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.idempotency import IdempotencyRecord, claim, complete

pytestmark = pytest.mark.integration


def new_key() -> str:
    return f"key-{uuid.uuid4().hex}"


async def test_first_claim_creates_the_key(engine: AsyncEngine) -> None:
    key = new_key()
    before = datetime.now(UTC)
    record, created = await claim(engine, key, "hash-a", "cmd-1")
    assert created
    assert record == IdempotencyRecord(key, "hash-a", "cmd-1", None, None, record.created_at)
    # When the key was first claimed: a retried command keeps it as its creation time.
    assert before - timedelta(seconds=5) <= record.created_at <= datetime.now(UTC)


async def test_second_claim_returns_the_first_request_untouched(engine: AsyncEngine) -> None:
    key = new_key()
    await claim(engine, key, "hash-a", "cmd-1")

    record, created = await claim(engine, key, "hash-b", "cmd-2")

    assert not created
    assert (record.request_hash, record.command_id, record.response) == ("hash-a", "cmd-1", None)


async def test_completed_key_returns_the_stored_response(engine: AsyncEngine) -> None:
    key = new_key()
    await claim(engine, key, "hash-a", "cmd-1")
    body = {"reservation": {"id": "r-1", "quantity": 2}, "price": "19.99", "request_id": "q"}

    await complete(engine, key, 201, body)
    record, created = await claim(engine, key, "hash-a", "cmd-9")

    assert not created
    assert (record.status_code, record.response, record.command_id) == (201, body, "cmd-1")


async def test_completing_an_unclaimed_key_raises(engine: AsyncEngine) -> None:
    with pytest.raises(KeyError):
        await complete(engine, new_key(), 200, {})


async def test_racing_claims_create_the_key_once(engine: AsyncEngine) -> None:
    key = new_key()
    results = await asyncio.gather(*(claim(engine, key, "hash-a", f"cmd-{i}") for i in range(15)))

    winners = [record for record, created in results if created]
    assert len(winners) == 1
    assert {record.command_id for record, _ in results} == {winners[0].command_id}
