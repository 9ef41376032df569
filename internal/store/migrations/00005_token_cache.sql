-- +goose Up
-- Provider access tokens shared by every replica (the WeChat token cache):
-- one fetch serves them all, and a replica that drops a stale token drops it
-- for everyone. Values are sealed: a token is a credential.
CREATE TABLE token_cache (
    key        text        PRIMARY KEY,
    value      bytea       NOT NULL,
    expires_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE token_cache;
