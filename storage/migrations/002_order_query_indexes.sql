-- Indexes for GET /api/orders/ (storage/order_queries.py), chosen from EXPLAIN on
-- 200k and 1M orders; docs/QUERIES.md has the plans, timings and trade-offs.
--
-- Kept from 001, all three carry plans:
--   orders_created_at_id_idx         sorts newest/oldest, created_at ranges
--   orders_total_id_idx              sorts highest/lowest_value, total ranges
--   orders_status_created_at_id_idx  status (one UNION ALL branch per status) + newest/oldest
--
-- Every index ends in `id` so the keyset condition `(key, id) < ($1, $2)` is an
-- index condition and a page starts at the cursor instead of filtering up to it.
-- A btree reads backwards as cheaply as forwards: one index per key serves both
-- directions. Each index costs every insert and every status change (status is
-- indexed, so those updates are never HOT): seven secondary indexes is where we stop.

-- status + highest/lowest_value. Without it the planner walks orders_total_id_idx and
-- drops every row of another status: for a status holding 4 % of the orders ~25 heap
-- rows per row returned (pending + date range, by value: 6.9 ms -> 0.6 ms at 200k).
CREATE INDEX orders_status_total_id_idx ON orders (status, total, id);

-- customer / product + newest/oldest. Without them a customer's orders are a
-- sequential scan (25-45 ms at 200k) and a product's a walk of the whole created_at
-- or total index filtering product_id (10-15 ms at 200k).
CREATE INDEX orders_customer_id_created_at_id_idx ON orders (customer_id, created_at, id);
CREATE INDEX orders_product_id_created_at_id_idx ON orders (product_id, created_at, id);

-- product + highest/lowest_value. At 200k the planner sorts a product's rows (fine), but
-- from ~1M rows it walks orders_total_id_idx hoping to meet 51 rows of the product
-- early (the LIMIT cost model assumes uniformity): 25-55 ms at 1M, 0.1 ms with this.
-- Products are where orders concentrate (a best seller), so it is worth its writes.
-- Customers have fewer orders each and still plan a bitmap scan + sort at 1M; add
-- (customer_id, total, id) when EXPLAIN shows the same walk for them.
CREATE INDEX orders_product_id_total_id_idx ON orders (product_id, total, id);
