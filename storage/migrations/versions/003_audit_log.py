"""The audit log: one row per event of the audit topic."""

from storage.migrate import run_sql_file

revision = "003"
down_revision = "002"
sql_file = "003_audit_log.sql"


def upgrade() -> None:
    run_sql_file(sql_file)
