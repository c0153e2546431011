-- Every event of the audit topic, one row per event id (replays insert nothing new).
CREATE TABLE audit_log (
    id            text PRIMARY KEY,
    type          text NOT NULL,
    entity_type   text NOT NULL,
    entity_id     text NOT NULL,
    request_id    text NOT NULL,
    causation_id  text NULL,
    occurred_at   timestamptz NOT NULL,
    payload       jsonb NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);

-- newest first, and the same per entity, per type and per request
CREATE INDEX audit_log_occurred_at_id_idx ON audit_log (occurred_at, id);
CREATE INDEX audit_log_entity_idx ON audit_log (entity_type, entity_id, occurred_at, id);
CREATE INDEX audit_log_type_idx ON audit_log (type, occurred_at, id);
CREATE INDEX audit_log_request_id_idx ON audit_log (request_id);
