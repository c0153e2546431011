-- Who caused each audit event (topics.messages.Actor). NULL in rows of events written
-- before actors existed; `GET /api/audit/?actor=` filters on actor_id.
ALTER TABLE audit_log
    ADD COLUMN actor_id text NULL,
    ADD COLUMN actor_role text NULL,
    ADD COLUMN actor_verified boolean NULL;

CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, occurred_at, id);
