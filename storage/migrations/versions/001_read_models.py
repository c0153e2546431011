"""The read models (products, reservations, orders) and the gateway's idempotency keys."""

from storage.migrate import run_sql_file

revision = "001"
down_revision = None
sql_file = "001_read_models.sql"


def upgrade() -> None:
    run_sql_file(sql_file)
