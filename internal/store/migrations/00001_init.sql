-- +goose Up

-- profiles holds each subject's current profile. data is the profile JSON
-- with its personal fields removed; pii is the AES-256-GCM sealed JSON object
-- mapping each removed field's dotted path to its value (NULL when there were
-- none). The sealed value is bound to its subject (associated data).
CREATE TABLE profiles (
    subject_type text        NOT NULL,
    subject_id   text        NOT NULL,
    data         jsonb       NOT NULL,
    pii          bytea,
    version      bigint      NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject_type, subject_id)
) WITH (fillfactor = 80);

-- source_watermarks is the latest occurred_at applied per subject and source,
-- so that an older event from the same source can be recognised.
CREATE TABLE source_watermarks (
    subject_type text        NOT NULL,
    subject_id   text        NOT NULL,
    source       text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    PRIMARY KEY (subject_type, subject_id, source)
) WITH (fillfactor = 80);

-- applied_events makes redelivery harmless: an event_id found here has been
-- applied already.
CREATE TABLE applied_events (
    event_id     text        PRIMARY KEY,
    subject_type text        NOT NULL,
    subject_id   text        NOT NULL,
    source       text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now()
);

-- matches holds at most one row per subject and policy: the unique key is
-- what makes "notified at most once per policy" hold under replay.
CREATE TABLE matches (
    id             bigserial   PRIMARY KEY,
    subject_type   text        NOT NULL,
    subject_id     text        NOT NULL,
    policy_id      text        NOT NULL,
    policy_version integer     NOT NULL,
    result         text        NOT NULL CHECK (result IN ('eligible', 'unknown')),
    explanation    jsonb       NOT NULL,
    amount         numeric,
    evaluated_at   timestamptz NOT NULL,
    event_id       text,
    status         text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'lapsed')),
    lapsed_at      timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (subject_type, subject_id, policy_id)
);

-- outbox holds the notices to send, at most one per match and channel.
CREATE TABLE outbox (
    id         bigserial   PRIMARY KEY,
    match_id   bigint      NOT NULL REFERENCES matches (id),
    channel    text        NOT NULL,
    fallback   text[]      NOT NULL DEFAULT '{}',
    status     text        NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'delivered',
                                                      'failed', 'deferred', 'suppressed', 'cancelled', 'dead')),
    reason     text,
    due_at     timestamptz NOT NULL,
    attempts   integer     NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (match_id, channel)
);

-- outbox_status_due serves the dispatcher's claim of due rows
-- (WHERE status = 'pending' AND due_at <= now() ORDER BY due_at) and the
-- pending count.
CREATE INDEX outbox_status_due ON outbox (status, due_at);

-- +goose Down
DROP TABLE outbox;
DROP TABLE matches;
DROP TABLE applied_events;
DROP TABLE source_watermarks;
DROP TABLE profiles;
