-- +goose Up
-- Each notice links to its policy page through /r/{click_token}. The token
-- is random (122 bits of a v4 UUID), so links cannot be guessed.
ALTER TABLE outbox ADD COLUMN click_token text NOT NULL DEFAULT replace(gen_random_uuid()::text, '-', '');
CREATE UNIQUE INDEX outbox_click_token ON outbox (click_token);

-- +goose Down
DROP INDEX outbox_click_token;
ALTER TABLE outbox DROP COLUMN click_token;
