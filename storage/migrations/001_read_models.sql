-- Read models written by the projector and the gateway's idempotency keys.
-- Schema-unqualified on purpose: the connection's search_path picks the schema.

CREATE TABLE products (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    price       numeric(14, 2) NOT NULL,
    initial     integer NOT NULL CHECK (initial >= 0),
    -- the sum of stock adjustments, so it may legitimately be negative
    adjusted    integer NOT NULL,
    available   integer NOT NULL CHECK (available >= 0),
    reserved    integer NOT NULL CHECK (reserved >= 0),
    sold        integer NOT NULL CHECK (sold >= 0),
    version     bigint NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE reservations (
    id           text PRIMARY KEY,
    product_id   text NOT NULL,
    order_id     text NOT NULL,
    customer_id  text NULL,
    quantity     integer NOT NULL CHECK (quantity > 0),
    status       text NOT NULL,
    expires_at   timestamptz NULL,
    version      bigint NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);

CREATE INDEX reservations_product_id_idx ON reservations (product_id);

CREATE TABLE orders (
    id              text PRIMARY KEY,
    status          text NOT NULL,
    customer_id     text NOT NULL,
    product_id      text NOT NULL,
    quantity        integer NOT NULL CHECK (quantity > 0),
    unit_price      numeric(14, 2) NOT NULL,
    total           numeric(14, 2) NOT NULL,
    reservation_id  text NOT NULL,
    expires_at      timestamptz NOT NULL,
    cancel_reason   text NULL,
    history         jsonb NOT NULL DEFAULT '[]'::jsonb,
    version         bigint NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

CREATE INDEX orders_created_at_id_idx ON orders (created_at, id);
CREATE INDEX orders_status_created_at_id_idx ON orders (status, created_at, id);
CREATE INDEX orders_total_id_idx ON orders (total, id);

CREATE TABLE idempotency_keys (
    key           text PRIMARY KEY,
    request_hash  text NOT NULL,
    command_id    text NOT NULL,
    status_code   integer NULL,
    response      jsonb NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
