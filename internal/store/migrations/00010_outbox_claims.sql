-- +goose Up
-- A claim is no longer 'sending'. A dispatcher takes due rows into
-- 'claimed' under its claim_token (random per dispatcher instance) until
-- lease_until, which it renews while it lives; it moves one row to
-- 'sending' just before that row's provider call, and only while the claim
-- is still its own and unexpired. So a row in 'claimed' was never called
-- and can go back to 'pending' without doubt (on shutdown, or by anyone
-- once the lease lapsed); only a row in 'sending' may have reached the
-- provider, and call_started_at (the dispatcher's clock) says since when.
-- lease_until is in the database's clock, shared by every replica.
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check CHECK (status IN ('pending', 'claimed', 'sending', 'sent',
    'delivered', 'failed', 'deferred', 'suppressed', 'cancelled', 'dead', 'waiting', 'unknown'));
ALTER TABLE outbox
    ADD COLUMN claim_token     text,
    ADD COLUMN lease_until     timestamptz,
    ADD COLUMN call_started_at timestamptz;
-- Rows left in 'sending' by the old dispatcher keep its 5-minute lease.
UPDATE outbox SET lease_until = claimed_at + interval '5 minutes', call_started_at = claimed_at
WHERE status = 'sending';
-- outbox_lease serves renewal, hand-back and reconciliation of lapsed leases.
CREATE INDEX outbox_lease ON outbox (lease_until) WHERE status IN ('claimed', 'sending');
CREATE INDEX outbox_claim_token ON outbox (claim_token) WHERE claim_token IS NOT NULL;

-- +goose Down
UPDATE outbox SET status = 'pending', claimed_at = NULL WHERE status = 'claimed';
DROP INDEX outbox_claim_token;
DROP INDEX outbox_lease;
ALTER TABLE outbox DROP COLUMN call_started_at, DROP COLUMN lease_until, DROP COLUMN claim_token;
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check CHECK (status IN ('pending', 'sending', 'sent', 'delivered',
    'failed', 'deferred', 'suppressed', 'cancelled', 'dead', 'waiting', 'unknown'));
