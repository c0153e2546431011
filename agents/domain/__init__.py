"""Pure inventory and order rules: plain data in, new data out, no I/O.

Nothing here imports faust, Kafka, aiohttp or SQLAlchemy, so every rule can be
unit-tested in microseconds and reused by the agents, the gateway and the tools.
"""
