"""Where a projection is stopped: stuck_projections."""

from storage.migrate import run_sql_file

revision = "005"
down_revision = "004"
sql_file = "005_stuck_projections.sql"


def upgrade() -> None:
    run_sql_file(sql_file)
