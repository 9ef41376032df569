-- +goose Up

-- console_sessions holds the console's sign-in sessions (internal/signin).
-- id_hash is the SHA-256 of the cookie's value: the value itself, which
-- signs its bearer in, is never stored, so a copy of this table signs no one
-- in. csrf is the session's token for the console's forms. Rows past
-- expires_at are refused, and deleted at the next sign-in.
CREATE TABLE console_sessions (
    id_hash    bytea       PRIMARY KEY,
    officer    text        NOT NULL,
    role       text        NOT NULL CHECK (role IN ('viewer', 'reviewer', 'publisher', 'admin')),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    csrf       text        NOT NULL
);
CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);

-- +goose Down
DROP TABLE console_sessions;
