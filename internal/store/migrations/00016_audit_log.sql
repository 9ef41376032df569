-- +goose Up

-- audit_log records every officer action and every read of one subject's
-- history: who (the account's name, or admin-token, or cli), with which
-- role, what, on which subject or policy, when. detail never holds
-- personal data (no mobile, no openid). Rows are only ever inserted.
CREATE TABLE audit_log (
    id           bigserial   PRIMARY KEY,
    at           timestamptz NOT NULL,
    actor        text        NOT NULL,
    actor_role   text        NOT NULL,
    action       text        NOT NULL,
    subject_type text,
    subject_id   text,
    policy_id    text,
    detail       jsonb
);

CREATE INDEX audit_log_at ON audit_log (at);
-- "who looked at this person" is the question a complaint asks.
CREATE INDEX audit_log_subject ON audit_log (subject_type, subject_id, id) WHERE subject_id IS NOT NULL;

-- +goose Down
DROP TABLE audit_log;
