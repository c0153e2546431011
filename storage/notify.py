"""The read models' change signal: the projector notifies a PostgreSQL channel in the
transaction that writes the rows, so a listener hears of it exactly when they commit.

Gateways listen instead of polling the version of every waiting request's rows every
few milliseconds (api/read_waiter.py). The channel is per schema, so test runs and
replays in other schemas do not wake each other. The projector's one statement per batch
ends with `pg_notify` on it (storage/projection.py).
"""

from __future__ import annotations

import hashlib


def read_models_channel(schema: str) -> str:
    """The channel for `schema`: a fixed-length name, as channel names stop at 63 bytes."""
    return "read_models_" + hashlib.sha256(schema.encode()).hexdigest()[:24]
