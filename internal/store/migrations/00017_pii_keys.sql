-- +goose Up

-- pii_keys records every PII key that has been the current one (the key
-- personal data is sealed under), by its id, with a canary sealed under it:
-- at start a service must hold every key not yet retired, so a key missing
-- from POLICYPUSH_PII_KEY and POLICYPUSH_PII_KEYS is refused by name, without
-- reading a single profile. `policypush reseal` retires a key once nothing
-- sealed under it remains. pii_canary (00013) stays as the legacy canary of
-- databases sealed before key ids; the first start registers its key here.
CREATE TABLE pii_keys (
    key_id        bytea       PRIMARY KEY CHECK (length(key_id) = 4),
    canary        bytea       NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now(),
    retired_at    timestamptz
);

-- pii_reseal is the checkpoint of `policypush reseal`, per sealed table: the
-- key being sealed to, the last primary key done, and counts for progress.
-- A run under another current key starts over.
CREATE TABLE pii_reseal (
    tbl        text        PRIMARY KEY,
    key_id     bytea       NOT NULL,
    after_type text        NOT NULL DEFAULT '',
    after_id   text        NOT NULL DEFAULT '',
    scanned    bigint      NOT NULL DEFAULT 0,
    resealed   bigint      NOT NULL DEFAULT 0,
    done       boolean     NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE pii_reseal;
DROP TABLE pii_keys;
