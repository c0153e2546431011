-- Locations (issue 12). The catalogue is the gateway's, like the API keys: `replay`
-- leaves it alone. `main` (priority 0) always exists; products created with `stock`
-- hold it there.
CREATE TABLE locations (
    id text PRIMARY KEY,
    name text NOT NULL,
    priority integer NOT NULL CHECK (priority >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO locations (id, name, priority) VALUES ('main', 'Main', 0);

-- Stock per location as the product's events carry it ([{location_id, available,
-- reserved, sold}]); empty in rows projected before locations: all at `main`.
ALTER TABLE products
    ADD COLUMN locations jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN allocation text NOT NULL DEFAULT 'priority';

-- Where a reservation's and an order's units are held ([{location_id, quantity}]).
ALTER TABLE reservations ADD COLUMN allocations jsonb NOT NULL DEFAULT '[]';
ALTER TABLE orders ADD COLUMN allocations jsonb NOT NULL DEFAULT '[]';
-- The order list's `location_id` filter: allocations @> '[{"location_id": ...}]'.
CREATE INDEX orders_allocations_idx ON orders USING gin (allocations jsonb_path_ops);

-- The locations an audit event touches (an adjustment's, both ends of a transfer, a
-- reservation's or order's allocations); NULL for events that touch none or from before.
ALTER TABLE audit_log ADD COLUMN location_ids text[] NULL;
CREATE INDEX audit_log_location_ids_idx ON audit_log USING gin (location_ids);
