-- +goose Up

-- officers are the accounts of the admin API and the console. Only a hash
-- of each token is kept: the token itself is shown once, when the account
-- is made. A revoked account stays, so that the audit log's names keep
-- meaning who they meant; its name is not given again.
CREATE TABLE officers (
    name       text        PRIMARY KEY,
    role       text        NOT NULL CHECK (role IN ('viewer', 'reviewer', 'publisher', 'admin')),
    token_hash bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

-- +goose Down
DROP TABLE officers;
