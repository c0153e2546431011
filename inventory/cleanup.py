"""`inventory cleanup`: the expiry sweep by hand (what the seed's cleanup_reservations did).

It asks, it does not decide: it finds overdue pending orders in the read model and
sends each an ExpireOrder with the same id the timer would use, so the order agent
applies each expiry once however many sweeps ask.
"""

from __future__ import annotations

from aiokafka import AIOKafkaProducer
from sqlalchemy import text

from agents.order_rules import signed_expiry
from inventory.settings import Settings
from storage.engine import create_engine
from topics.names import ORDERS_COMMANDS, prefixed


async def expire_overdue(settings: Settings) -> int:
    """Send ExpireOrder for every pending order past its deadline; returns how many."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT id FROM orders WHERE status = 'pending' AND expires_at <= now()")
            )
            order_ids = [row[0] for row in rows]
    finally:
        await engine.dispose()
    if not order_ids:
        return 0
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_list, acks="all")
    await producer.start()
    try:
        topic = prefixed(settings.topic_prefix, ORDERS_COMMANDS)
        for order_id in order_ids:
            key, value, headers = signed_expiry(order_id, settings.command_signing_key)
            await producer.send(topic, key=key, value=value, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()
    return len(order_ids)
