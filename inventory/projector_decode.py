"""Each event decoded once per projector process, not once per projection.

The worker sends every event twice with the same bytes: on its event topic and on
`audit`. The projector's two loops (read models, audit log) read both copies at about
the same time, and decoding is pure and the most expensive thing the projector does
with an event (pydantic validation, ~40% of its CPU when each loop decoded its own).
So the loop that reads a value first decodes it and leaves the model here; the other
takes it instead of decoding the same bytes again.

What it may take is exactly what its own decoder would give: the topics' codecs are
unions discriminated by `type`, so a value decodes to the one model class its `type`
names, whichever union validates it. A model is taken only when its class is one of the
reader's union (a `command.rejected` from `audit` is never handed to the read models).
A value that fails to decode is not kept: every loop dead-letters its own copy.

Bounded: values nobody takes (the other loop owns another partition, is behind, or does
not read that type) leave oldest first, past `limit`. A miss only costs the decode.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any, get_args

Decode = Callable[[bytes], Any]

DEFAULT_LIMIT = 4096  # values: ~25 MB at most, ~6 KB for the bytes and the model of an event


def union_members(annotated: Any) -> frozenset[type]:
    """The model classes of a discriminated union as topics.messages writes it
    (`Annotated[A | B | ..., Field(discriminator="type")]`)."""
    union = get_args(annotated)[0]
    return frozenset(get_args(union) or (union,))


class SharedDecodes:
    """The decoded events one loop left for another, by their bytes."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._limit = limit
        # An OrderedDict drops its oldest in O(1); a dict's first key is found by
        # scanning past the slots of the keys taken before it.
        self._left: OrderedDict[bytes, Any] = OrderedDict()
        self.decoded = 0  # values decoded here
        self.taken = 0  # values another loop had decoded

    def decoder(self, decode: Decode, members: frozenset[type]) -> Decode:
        """`decode`, unless another loop left the model of the same bytes and its class is
        one of `members` (the classes `decode` can return). Raises what `decode` raises."""
        left = self._left

        def decode_once(raw: bytes) -> Any:
            event = left.pop(raw, None)
            if event is not None and type(event) in members:
                self.taken += 1
                return event
            event = decode(raw)
            self.decoded += 1
            left[raw] = event
            if len(left) > self._limit:
                left.popitem(last=False)
            return event

        return decode_once

    def __len__(self) -> int:
        return len(self._left)
