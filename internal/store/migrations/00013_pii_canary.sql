-- +goose Up

-- pii_canary holds one known value sealed with the PII key the database was
-- first served with, so that a start with another key is refused at once
-- instead of failing batch after batch on the profiles it cannot open.
CREATE TABLE pii_canary (
    id         integer     PRIMARY KEY CHECK (id = 1),
    sealed     bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE pii_canary;
