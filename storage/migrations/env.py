"""alembic's environment: runs the revisions on the connection `storage.migrate.migrate`
hands in (config.attributes), inside its transaction. There is no other entry: use
`inventory db migrate`, not the `alembic` command."""

from alembic import context

attributes = context.config.attributes
if "connection" not in attributes:
    raise RuntimeError("migrations run through storage.migrate.migrate (inventory db migrate)")

context.configure(
    connection=attributes["connection"],
    version_table=attributes["version_table"],
    version_table_schema=attributes["schema"],
    on_version_apply=attributes.get("on_version_apply"),
)
# The connection is already in migrate()'s transaction, so this begins nothing: every
# revision of the run commits together with the lock and the schema, or none does.
with context.begin_transaction():
    context.run_migrations()
