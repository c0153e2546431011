"""API keys of the gateway, kept as SHA-256 hashes: api_keys."""

from storage.migrate import run_sql_file

revision = "006"
down_revision = "005"
sql_file = "006_api_keys.sql"


def upgrade() -> None:
    run_sql_file(sql_file)
