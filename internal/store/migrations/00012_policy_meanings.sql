-- +goose Up
-- The meaning of each published policy version (rules.MeaningHash), as
-- first published. A rule set whose policy changed meaning under the same
-- (policy_id, version) is refused: a backfill is keyed by id@version, so
-- the change would reach no one who newly qualifies.
CREATE TABLE policy_meanings (
    policy_id   text        NOT NULL,
    version     integer     NOT NULL,
    hash        text        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (policy_id, version)
);

-- +goose Down
DROP TABLE policy_meanings;
