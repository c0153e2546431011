-- Carts (issue 11): an order has one or more lines, and a cart's reservation holds one
-- row per product under one reservation id.
--
-- reservations: one row per (reservation, product); a one-product reservation keeps its
-- single row.
ALTER TABLE reservations DROP CONSTRAINT reservations_pkey;
ALTER TABLE reservations ADD PRIMARY KEY (id, product_id);

-- orders: product_id, quantity and unit_price describe one-line orders only; a cart of
-- several lines has them NULL and its lines in order_lines. orders.allocations (008)
-- lists every line's, for the location filter.
ALTER TABLE orders
    ALTER COLUMN product_id DROP NOT NULL,
    ALTER COLUMN quantity DROP NOT NULL,
    ALTER COLUMN unit_price DROP NOT NULL;

-- Every order's lines, one-line orders included; lines never change once the order
-- exists. The order list's product filter reads this table's product indexes.
CREATE TABLE order_lines (
    order_id    text NOT NULL,
    position    integer NOT NULL,  -- the line's place in the order, from 0
    product_id  text NOT NULL,
    quantity    integer NOT NULL CHECK (quantity > 0),
    unit_price  numeric(14, 2) NOT NULL,
    line_total  numeric(14, 2) NOT NULL,
    -- Where the line's units are held ([{location_id, quantity}], migrations/008).
    allocations jsonb NOT NULL DEFAULT '[]',
    -- The order's created_at and total, which never change: the product filter's
    -- indexes below read a product's orders in page order (storage/order_queries.py).
    created_at  timestamptz NOT NULL,
    total       numeric(14, 2) NOT NULL,
    PRIMARY KEY (order_id, product_id)
);
CREATE INDEX order_lines_product_created_at_idx ON order_lines (product_id, created_at, order_id);
CREATE INDEX order_lines_product_total_idx ON order_lines (product_id, total, order_id);

INSERT INTO order_lines
    (order_id, position, product_id, quantity, unit_price, line_total, allocations,
     created_at, total)
SELECT id, 0, product_id, quantity, unit_price, total, allocations, created_at, total
FROM orders;
