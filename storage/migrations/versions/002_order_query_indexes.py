"""Indexes for the order list, GET /api/orders/ (docs/QUERIES.md)."""

from storage.migrate import run_sql_file

revision = "002"
down_revision = "001"
sql_file = "002_order_query_indexes.sql"


def upgrade() -> None:
    run_sql_file(sql_file)
