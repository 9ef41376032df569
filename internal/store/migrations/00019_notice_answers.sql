-- +goose Up

-- cases holds the case of a match once someone acts on it (CONTRACTS §8):
-- a claim, a dispute, a stop, and later an officer. A match without a row
-- is matched, notified or opened, which its outbox rows tell; the row is
-- created by the first answer, not backfilled.
CREATE TABLE cases (
    match_id   bigint      PRIMARY KEY REFERENCES matches (id),
    status     text        NOT NULL CHECK (status IN ('matched', 'notified', 'opened', 'claimed', 'disputed',
                                                      'declined', 'approved', 'rejected', 'granted', 'lapsed')),
    confirmed  boolean     NOT NULL DEFAULT false, -- apply.mode confirm: the person ticked apply.confirm
    claimed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cases_status ON cases (status);

-- field_sources keeps, per subject, the source that last changed each
-- profile field: a JSON object from dotted path (lists count as one value)
-- to source. One row per subject, merged in the ingest transaction, so that
-- an event costs one upsert however many fields it sets.
CREATE TABLE field_sources (
    subject_type text  NOT NULL,
    subject_id   text  NOT NULL,
    sources      jsonb NOT NULL,
    PRIMARY KEY (subject_type, subject_id)
) WITH (fillfactor = 80);

-- correction_requests are the 信息有误 answers, one per source of the
-- disputed fields. They are also the transactional outbox of the topic
-- profile-corrections: a row is committed with the answer, and the
-- publisher sends it and sets published_at (at least once).
-- A later event from source that changes one of fields fixes it.
CREATE TABLE correction_requests (
    id           bigserial   PRIMARY KEY,
    match_id     bigint      NOT NULL REFERENCES matches (id),
    subject_type text        NOT NULL,
    subject_id   text        NOT NULL,
    source       text        NOT NULL,
    fields       text[]      NOT NULL,
    conditions   text[]      NOT NULL,
    note         text        NOT NULL DEFAULT '',
    status       text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'fixed')),
    reported_at  timestamptz NOT NULL,
    fixed_at     timestamptz,
    published_at timestamptz
);
CREATE INDEX correction_requests_open ON correction_requests (subject_type, subject_id) WHERE status = 'open';
CREATE INDEX correction_requests_unpublished ON correction_requests (id) WHERE published_at IS NULL;
CREATE INDEX correction_requests_match ON correction_requests (match_id);

-- policy_opt_outs are opt-outs of one policy's notices (不再接收, scope
-- policy), beside opt_outs (of a channel).
CREATE TABLE policy_opt_outs (
    subject_type text        NOT NULL,
    subject_id   text        NOT NULL,
    policy_id    text        NOT NULL,
    source       text        NOT NULL,
    at           timestamptz NOT NULL,
    PRIMARY KEY (subject_type, subject_id, policy_id, source)
);

-- +goose Down
DROP TABLE policy_opt_outs;
DROP TABLE correction_requests;
DROP TABLE field_sources;
DROP TABLE cases;
