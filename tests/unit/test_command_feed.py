"""The feed between faust's fetcher and the command loop (agents.command_feed)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from faust.streams import current_event

from agents.command_feed import CommandFeed, CommandRecord


def _message(offset: int, headers: list[tuple[str, bytes]] | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        key=b"k%d" % offset, value=b"v%d" % offset, headers=headers, offset=offset, partition=3
    )


async def test_take_returns_every_waiting_record_in_order() -> None:
    feed = CommandFeed(["commands"], limit=100)
    for offset in range(5):
        feed.put(_message(offset))
    generation, records = await feed.take()
    assert generation == 0
    assert [m.offset for m in records] == [0, 1, 2, 3, 4]
    assert len(feed) == 0


async def test_take_waits_for_the_first_record() -> None:
    feed = CommandFeed(["commands"], limit=100)
    taking = asyncio.ensure_future(feed.take())
    await asyncio.sleep(0.01)
    assert not taking.done()
    feed.put(_message(7))
    _, records = await asyncio.wait_for(taking, 1)
    assert [m.offset for m in records] == [7]


async def test_a_full_feed_makes_the_fetcher_wait_until_taken() -> None:
    feed = CommandFeed(["commands"], limit=3)
    for offset in range(3):
        feed.put(_message(offset))
    assert feed.full
    waiting = asyncio.ensure_future(feed.wait_for_room())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    await feed.take()
    await asyncio.wait_for(waiting, 1)
    assert not feed.full


async def test_clear_drops_waiting_records_and_moves_the_generation_on() -> None:
    feed = CommandFeed(["commands"], limit=2)
    generation, _ = await _put_and_take(feed, 0)
    feed.put(_message(1))
    feed.put(_message(2))
    assert feed.full
    feed.clear()
    assert len(feed) == 0
    assert not feed.full
    # Records taken before the clear belong to an older generation: the loop drops them.
    assert feed.generation == generation + 1
    generation_after, records = await _put_and_take(feed, 3)
    assert generation_after == generation + 1
    assert [m.offset for m in records] == [3]


async def test_records_never_applied_are_reported_done_with() -> None:
    """faust's sensor counts a record in flight until it is done with: a record a
    rebalance drops is done with too, or the in-flight gauge only ever grows."""
    done: list[int] = []
    feed = CommandFeed(["commands"], limit=10, on_dropped=lambda m: done.append(m.offset))
    _, taken = await _put_and_take(feed, 0)
    feed.put(_message(1))
    feed.put(_message(2))
    feed.clear()
    assert done == [1, 2]
    feed.dropped(taken)  # the command loop, finding the generation moved on
    assert done == [1, 2, 0]


async def test_more_coming_sees_a_record_put_while_it_yields() -> None:
    feed = CommandFeed(["commands"], limit=100)
    assert not await feed.more_coming()

    async def fetcher() -> None:
        await asyncio.sleep(0)
        feed.put(_message(1))

    putting = asyncio.ensure_future(fetcher())
    assert await feed.more_coming()
    await putting


async def test_a_record_carries_what_the_processors_read_and_becomes_current() -> None:
    message = _message(4, headers=[("command-id", b"c-1")])
    record = CommandRecord(message)
    assert (record.key, record.value, record.headers) == (b"k4", b"v4", {"command-id": b"c-1"})
    assert CommandRecord(_message(5)).headers == {}
    record.make_current()
    assert current_event() is record


async def _put_and_take(feed: CommandFeed, offset: int) -> tuple[int, list[object]]:
    feed.put(_message(offset))
    return await feed.take()
