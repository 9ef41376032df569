-- +goose Up

-- Receipts and replies name a recipient by openid or mobile, which are
-- sealed in profiles.pii. Blind indexes (keyed hashes, pii.Sealer.Index)
-- find the subject without decrypting every row. mobile_hash is the mobile
-- SMS goes to (CONTRACTS.md §3), the one a 退订 reply comes from. Rows
-- written before this migration get their hashes with their next event.
ALTER TABLE profiles
    ADD COLUMN openid_hash bytea,
    ADD COLUMN mobile_hash bytea;
CREATE INDEX profiles_openid_hash ON profiles (openid_hash) WHERE openid_hash IS NOT NULL;
CREATE INDEX profiles_mobile_hash ON profiles (mobile_hash) WHERE mobile_hash IS NOT NULL;

-- Opt-outs recorded outside the profile: WeChat unsubscribe and user block,
-- SMS 退订 replies, the admin API. One row per source, so that a source can
-- take back only its own opt-out (following the account again clears
-- wechat_unsubscribe, not a block). The dispatcher reads them with the
-- profile's consent.opt_out_channels before every send.
CREATE TABLE opt_outs (
    subject_type text        NOT NULL,
    subject_id   text        NOT NULL,
    channel      text        NOT NULL,
    source       text        NOT NULL,
    at           timestamptz NOT NULL,
    PRIMARY KEY (subject_type, subject_id, channel, source)
);

-- A requeued dead row gets a fresh retry budget: attempts and age count
-- from the requeue, while attempts keeps counting every provider call.
ALTER TABLE outbox
    ADD COLUMN requeued_at      timestamptz,
    ADD COLUMN requeue_attempts integer NOT NULL DEFAULT 0;
CREATE INDEX outbox_dead ON outbox (updated_at) WHERE status = 'dead';

-- +goose Down
DROP INDEX outbox_dead;
ALTER TABLE outbox DROP COLUMN requeue_attempts, DROP COLUMN requeued_at;
DROP TABLE opt_outs;
DROP INDEX profiles_mobile_hash;
DROP INDEX profiles_openid_hash;
ALTER TABLE profiles DROP COLUMN mobile_hash, DROP COLUMN openid_hash;
