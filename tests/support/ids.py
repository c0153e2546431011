"""Fresh ids for tests: each test names its own products, orders and keys, so tests
sharing a run's topics and schema never see each other's data."""

from __future__ import annotations

import uuid


def unique(prefix: str) -> str:
    """`prefix`, a dash and 10 random hex digits, e.g. unique("p") -> "p-3f9c0a1b2d"."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
