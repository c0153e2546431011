"""What a dead-letter record says about itself: the original bytes as its value, and
why and where from in its headers. One format for the worker's command DLQs and the
projector's event DLQs, so one reader (or a person with kcat) reads them all."""

from __future__ import annotations

# Headers are bounded by the broker's record size; an error text is a diagnosis, and
# its first 4,000 characters say what is wrong.
MAX_ERROR_CHARS = 4000


def dead_letter_headers(
    code: str, error: str, topic: str, partition: int, offset: int
) -> list[tuple[str, bytes]]:
    """The headers of a record parked on `topic`'s DLQ: the refusal's code and text,
    and the source record's coordinates."""
    return [
        ("x-error-code", code.encode()),
        ("x-error", error[:MAX_ERROR_CHARS].encode()),
        ("x-source-topic", topic.encode()),
        ("x-source-partition", str(partition).encode()),
        ("x-source-offset", str(offset).encode()),
    ]
