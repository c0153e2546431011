"""Locations: the catalogue, stock per location, allocations, audit events by location."""

from storage.migrate import run_sql_file

revision = "008"
down_revision = "007"
sql_file = "008_locations.sql"


def upgrade() -> None:
    run_sql_file(sql_file)
