-- Where a projection is stopped: the event the database refuses (inventory/projector.py
-- retries it until it applies, never skips it), one row per projection and partition,
-- deleted once the projector is past it. GET /healthz reads it (503 while a row exists).
CREATE TABLE stuck_projections (
    projection        text NOT NULL,
    source_topic      text NOT NULL,
    source_partition  integer NOT NULL,
    source_offset     bigint NOT NULL,
    event_id          text NOT NULL,
    event_type        text NOT NULL,
    error             text NOT NULL,
    since             timestamptz NOT NULL,
    attempts          integer NOT NULL,
    last_attempt_at   timestamptz NOT NULL,
    PRIMARY KEY (projection, source_topic, source_partition)
);
