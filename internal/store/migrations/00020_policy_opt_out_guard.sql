-- +goose Up

-- A per-policy opt-out (不再接收, scope policy) cancels the policy's
-- waiting notices when it is recorded (store.StopNotices). This guard keeps
-- it so afterwards, whatever path would send one of them again: a
-- receipt's fallback to the next channel, an officer's requeue, a waiting
-- notice released by a later event, a claim handed back. Each of them moves
-- a row into 'pending'; a row of an opted-out pair is cancelled instead.
-- It fires only on that transition, not on the dispatcher's hot updates.
-- +goose StatementBegin
CREATE FUNCTION outbox_policy_opt_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM matches m JOIN policy_opt_outs p
                 ON p.subject_type = m.subject_type AND p.subject_id = m.subject_id AND p.policy_id = m.policy_id
               WHERE m.id = NEW.match_id) THEN
        NEW.status := 'cancelled';
        NEW.reason := 'opted_out';
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER outbox_policy_opt_out BEFORE UPDATE OF status ON outbox
FOR EACH ROW WHEN (NEW.status = 'pending' AND OLD.status IS DISTINCT FROM 'pending')
EXECUTE FUNCTION outbox_policy_opt_out();

-- +goose Down
DROP TRIGGER outbox_policy_opt_out ON outbox;
DROP FUNCTION outbox_policy_opt_out();
