"""Who caused each audit event: audit_log.actor_id, actor_role, actor_verified."""

from storage.migrate import run_sql_file

revision = "007"
down_revision = "006"
sql_file = "007_audit_actor.sql"


def upgrade() -> None:
    run_sql_file(sql_file)
