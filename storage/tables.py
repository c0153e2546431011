"""SQLAlchemy Core tables mirroring `migrations/*.sql` (the SQL is the source of truth).

No schema is set: the connection's search_path decides, as for the SQL files.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = MetaData()

MONEY = Numeric(14, 2, asdecimal=True)
TIMESTAMP = DateTime(timezone=True)

products = Table(
    "products",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("price", MONEY, nullable=False),
    Column("initial", Integer, nullable=False),
    Column("adjusted", Integer, nullable=False),
    Column("available", Integer, nullable=False),
    Column("reserved", Integer, nullable=False),
    Column("sold", Integer, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("created_at", TIMESTAMP, nullable=False),
    Column("updated_at", TIMESTAMP, nullable=False),
    # Stock per location and the allocation strategy (migrations/008).
    Column("locations", JSONB, nullable=False, server_default="[]"),
    Column("allocation", Text, nullable=False, server_default="priority"),
)

# The location catalogue (migrations/008): the gateway's, like the API keys.
locations = Table(
    "locations",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("created_at", TIMESTAMP, nullable=False, server_default=func.now()),
)

reservations = Table(
    "reservations",
    metadata,
    # One row per (reservation, product): a cart's reservation holds each product.
    Column("id", Text, primary_key=True),
    Column("product_id", Text, primary_key=True),
    Column("order_id", Text, nullable=False),
    Column("customer_id", Text, nullable=True),
    Column("quantity", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("expires_at", TIMESTAMP, nullable=True),
    Column("version", BigInteger, nullable=False),
    Column("created_at", TIMESTAMP, nullable=False),
    Column("updated_at", TIMESTAMP, nullable=False),
    Column("allocations", JSONB, nullable=False, server_default="[]"),
    Index("reservations_product_id_idx", "product_id"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Text, primary_key=True),
    Column("status", Text, nullable=False),
    Column("customer_id", Text, nullable=False),
    # A one-line order's line; NULL for a cart of several lines (see order_lines).
    Column("product_id", Text, nullable=True),
    Column("quantity", Integer, nullable=True),
    Column("unit_price", MONEY, nullable=True),
    Column("total", MONEY, nullable=False),
    Column("reservation_id", Text, nullable=False),
    Column("expires_at", TIMESTAMP, nullable=False),
    Column("cancel_reason", Text, nullable=True),
    Column("history", JSONB, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("created_at", TIMESTAMP, nullable=False),
    Column("updated_at", TIMESTAMP, nullable=False),
    Column("allocations", JSONB, nullable=False, server_default="[]"),
    Index("orders_created_at_id_idx", "created_at", "id"),
    Index("orders_status_created_at_id_idx", "status", "created_at", "id"),
    Index("orders_total_id_idx", "total", "id"),
    Index("orders_status_total_id_idx", "status", "total", "id"),
    Index("orders_customer_id_created_at_id_idx", "customer_id", "created_at", "id"),
    Index("orders_product_id_created_at_id_idx", "product_id", "created_at", "id"),
    Index("orders_product_id_total_id_idx", "product_id", "total", "id"),
    Index("orders_customer_id_total_id_idx", "customer_id", "total", "id"),
    Index(
        "orders_allocations_idx",
        "allocations",
        postgresql_using="gin",
        postgresql_ops={"allocations": "jsonb_path_ops"},
    ),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("order_id", Text, primary_key=True),
    Column("position", Integer, nullable=False),  # the line's place in the order, from 0
    Column("product_id", Text, primary_key=True),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", MONEY, nullable=False),
    Column("line_total", MONEY, nullable=False),
    Column("allocations", JSONB, nullable=False, server_default="[]"),
    # The order's, which never change: the product filter's sort keys (migrations/009).
    Column("created_at", TIMESTAMP, nullable=False),
    Column("total", MONEY, nullable=False),
    Index("order_lines_product_created_at_idx", "product_id", "created_at", "order_id"),
    Index("order_lines_product_total_idx", "product_id", "total", "order_id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", Text, primary_key=True),
    Column("request_hash", Text, nullable=False),
    Column("command_id", Text, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("response", JSONB, nullable=True),
    Column("created_at", TIMESTAMP, nullable=False, server_default=func.now()),
)

# Every event of the `audit` topic (migrations/003_audit_log.sql); read by
# storage.audit_queries, written by storage.audit.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Text, primary_key=True),
    Column("type", Text, nullable=False),
    Column("entity_type", Text, nullable=False),
    Column("entity_id", Text, nullable=False),
    Column("request_id", Text, nullable=False),
    Column("causation_id", Text, nullable=True),
    Column("occurred_at", TIMESTAMP, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("recorded_at", TIMESTAMP, nullable=False, server_default=func.now()),
    # Who caused it (migrations/007): NULL for events from before actors existed.
    Column("actor_id", Text, nullable=True),
    Column("actor_role", Text, nullable=True),
    Column("actor_verified", Boolean, nullable=True),
    # The locations it touches (migrations/008).
    Column("location_ids", ARRAY(Text), nullable=True),
    Index("audit_log_occurred_at_id_idx", "occurred_at", "id"),
    Index("audit_log_entity_idx", "entity_type", "entity_id", "occurred_at", "id"),
    Index("audit_log_type_idx", "type", "occurred_at", "id"),
    Index("audit_log_request_id_idx", "request_id"),
    Index("audit_log_actor_idx", "actor_id", "occurred_at", "id"),
    Index("audit_log_location_ids_idx", "location_ids", postgresql_using="gin"),
)

# The gateway's API keys (migrations/006): a SHA-256 of each key, never the key.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("key_hash", LargeBinary, nullable=False),
    Column("created_at", TIMESTAMP, nullable=False, server_default=func.now()),
    Column("last_used_at", TIMESTAMP, nullable=True),
    Column("revoked_at", TIMESTAMP, nullable=True),
    # The UNIQUE constraint's index, under the name PostgreSQL gives it.
    Index("api_keys_key_hash_key", "key_hash", unique=True),
)

# Where a projection is stopped at an event the database refuses (migrations/005); written
# by inventory.projector, read by GET /healthz, through storage.stuck.
stuck_projections = Table(
    "stuck_projections",
    metadata,
    Column("projection", Text, primary_key=True),
    Column("source_topic", Text, primary_key=True),
    Column("source_partition", Integer, primary_key=True),
    Column("source_offset", BigInteger, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("error", Text, nullable=False),
    Column("since", TIMESTAMP, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_attempt_at", TIMESTAMP, nullable=False),
)
