"""The cyclic garbage collector's thresholds for the long-running processes that churn
through messages: the worker and the projector.

Their garbage is almost all freed by reference counting (decoded commands and events,
outcomes, rows: no cycles), but a batch keeps many tracked objects alive at once - ~100
per event in the projector, a batch's outcomes and applied entries in the worker - above
a large heap made at start-up. At CPython's default (a collection every 700 net
allocations, and full ones scanning everything) the collector took about half of what
decoding cost in the projector (make bench-projector) and about a tenth of the worker's
CPU per reservation (make bench-drain), charged to whatever line allocated. Collections
every 50,000 net allocations, with what start-up made frozen out of them, cost little; the
cyclic garbage left meanwhile is a few MB.
"""

from __future__ import annotations

import gc

GC_THRESHOLDS = (50_000, 20, 20)


def tune_garbage_collector() -> None:
    """Freeze what start-up made and collect at GC_THRESHOLDS from now on."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
