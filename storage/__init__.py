"""PostgreSQL read models: the engine factory, migrations, the projector's writes,
the queries behind the gateway and the gateway's idempotency-key store.

Imports only `topics`, `inventory.settings` and `inventory.errors`; every function takes
the engine it works on, so tests and processes hand in their own.
"""
