-- +goose Up
-- Two statuses that later migrations and the dispatcher rely on:
--   waiting: a notice that no channel can reach yet (no contact, no openid,
--            not following); a later profile event that makes a channel
--            reachable sends it, while the policy still applies.
--   unknown: a provider call whose outcome was lost (a crash mid-call) and
--            that the provider cannot be asked about (WeChat subscribe
--            messages): visible, counted, and requeueable by an officer.
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check CHECK (status IN ('pending', 'sending', 'sent', 'delivered',
    'failed', 'deferred', 'suppressed', 'cancelled', 'dead', 'waiting', 'unknown'));

-- +goose Down
UPDATE outbox SET status = 'suppressed', reason = 'unreachable' WHERE status = 'waiting';
UPDATE outbox SET status = 'failed', reason = 'unknown_outcome' WHERE status = 'unknown';
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check CHECK (status IN ('pending', 'sending', 'sent', 'delivered',
    'failed', 'deferred', 'suppressed', 'cancelled', 'dead'));
