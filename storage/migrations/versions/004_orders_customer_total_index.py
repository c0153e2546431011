"""A customer's orders by value: the index (customer_id, total, id)."""

from storage.migrate import run_sql_file

revision = "004"
down_revision = "003"
sql_file = "004_orders_customer_total_index.sql"


def upgrade() -> None:
    run_sql_file(sql_file)
