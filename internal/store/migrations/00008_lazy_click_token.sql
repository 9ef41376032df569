-- +goose Up
-- A notice gets its click token when it is first claimed for sending, not
-- when it is queued: the token is random, so inserting it into its unique
-- index touches a random page, which a backfill queueing hundreds of
-- thousands of notices (many never sent: suppressed, cancelled) pays for
-- in page writes. Claiming happens at the send rate.
ALTER TABLE outbox ALTER COLUMN click_token DROP DEFAULT, ALTER COLUMN click_token DROP NOT NULL;

-- +goose Down
UPDATE outbox SET click_token = replace(gen_random_uuid()::text, '-', '') WHERE click_token IS NULL;
ALTER TABLE outbox ALTER COLUMN click_token SET DEFAULT replace(gen_random_uuid()::text, '-', ''),
                   ALTER COLUMN click_token SET NOT NULL;
