-- +goose Up
-- A digest is one provider message that carries several notices of one
-- subject (POLICYPUSH_DIGEST_WINDOW). Each notice keeps its own row, status,
-- attempts and click token; digest_id, set when the message's call begins,
-- names the message: the smallest outbox id among its notices (or the
-- digest_id they already share, when a message whose answer was lost is
-- sent again). It is what the providers get as client_msg_id / OutId, so a
-- resend of the same digest is deduplicated (WeChat) or looked up (SMS)
-- exactly as a single notice is. The frequency cap counts distinct
-- (digest, sent_at) pairs: messages, not notices.
ALTER TABLE outbox ADD COLUMN digest_id bigint;
CREATE INDEX outbox_digest ON outbox (digest_id) WHERE digest_id IS NOT NULL;

-- +goose Down
DROP INDEX outbox_digest;
ALTER TABLE outbox DROP COLUMN digest_id;
