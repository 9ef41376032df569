-- +goose Up

-- The dispatcher's columns. reason stays the reason of the current status
-- (why a row is suppressed, deferred, failed or dead); last_reason is the
-- reason of the last unsuccessful provider call, kept when the row moves on
-- (a retried row is pending again with last_reason 'timeout', say).
-- claimed_at is when a dispatcher moved the row to 'sending': the lease that
-- reconciliation measures, and the token that makes a late answer from a
-- dispatcher that lost its lease change nothing.
ALTER TABLE outbox
    ADD COLUMN sent_at         timestamptz,
    ADD COLUMN provider_msg_id text,
    ADD COLUMN delivered_at    timestamptz,
    ADD COLUMN clicked_at      timestamptz,
    ADD COLUMN last_reason     text,
    ADD COLUMN claimed_at      timestamptz;

-- notice_attempts records every provider call (and every reconciled call
-- whose outcome is unknown) with an outcome and a reason from fixed sets.
CREATE TABLE notice_attempts (
    id              bigserial   PRIMARY KEY,
    outbox_id       bigint      NOT NULL REFERENCES outbox (id),
    attempt         integer     NOT NULL,
    channel         text        NOT NULL,
    outcome         text        NOT NULL,
    reason          text,
    provider_msg_id text,
    at              timestamptz NOT NULL
);
CREATE INDEX notice_attempts_outbox ON notice_attempts (outbox_id, attempt);

-- outbox_due serves the claim (status pending or deferred, due_at <= now,
-- ORDER BY due_at); it stays small because finished rows leave it.
CREATE INDEX outbox_due ON outbox (due_at) WHERE status IN ('pending', 'deferred');

-- outbox_sending serves reconciliation of rows whose lease ran out.
CREATE INDEX outbox_sending ON outbox (claimed_at) WHERE status = 'sending';

-- The frequency cap counts a subject's notices sent in the period. It is not
-- denormalised onto outbox: the subject's matches come from the matches
-- unique key (subject_type, subject_id, policy_id), a handful per subject,
-- and this index gives each match's sent notices.
CREATE INDEX outbox_match_sent ON outbox (match_id, sent_at) WHERE sent_at IS NOT NULL;

-- Receipts look notices up by the provider's message id.
CREATE INDEX outbox_provider_msg ON outbox (provider_msg_id) WHERE provider_msg_id IS NOT NULL;

-- +goose Down
DROP INDEX outbox_provider_msg;
DROP INDEX outbox_match_sent;
DROP INDEX outbox_sending;
DROP INDEX outbox_due;
DROP TABLE notice_attempts;
ALTER TABLE outbox
    DROP COLUMN claimed_at,
    DROP COLUMN last_reason,
    DROP COLUMN clicked_at,
    DROP COLUMN delivered_at,
    DROP COLUMN provider_msg_id,
    DROP COLUMN sent_at;
