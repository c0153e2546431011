"""Carts: order_lines, reservations keyed by (id, product_id), one-line order columns nullable."""

from storage.migrate import run_sql_file

revision = "009"
down_revision = "008"
sql_file = "009_cart_lines.sql"


def upgrade() -> None:
    run_sql_file(sql_file)
