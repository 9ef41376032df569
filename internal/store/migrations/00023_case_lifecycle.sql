-- +goose Up

-- A case's decision and its grant (CONTRACTS §8). The case of a match
-- with no cases row is matched, notified, opened or lapsed, which its
-- match and outbox rows tell: those three steps are derived, not written,
-- so that ingest and dispatch (the hot paths) write nothing more.
ALTER TABLE cases
    ADD COLUMN decided_at     timestamptz,          -- approved or rejected
    ADD COLUMN decided_by     text,                 -- the officer, or 'system' for a policy without review
    ADD COLUMN reason         text,                 -- the officer's reason
    ADD COLUMN granted_at     timestamptz,          -- when the grant was learnt
    ADD COLUMN granted_on     date,                 -- the day the money went out, as the source says
    ADD COLUMN granted_amount numeric,
    ADD COLUMN grant_event_id text;                 -- the profile event that told

CREATE INDEX cases_decided ON cases (decided_at) WHERE decided_at IS NOT NULL;
CREATE INDEX cases_granted ON cases (granted_at) WHERE granted_at IS NOT NULL;
CREATE INDEX matches_policy ON matches (policy_id, created_at);

-- case_events is every written change of a case's status, with its time
-- and actor: system (ingest, a policy without review), citizen (the
-- notice page) or officer (named in actor).
CREATE TABLE case_events (
    id          bigserial   PRIMARY KEY,
    match_id    bigint      NOT NULL REFERENCES matches (id),
    from_status text,
    to_status   text        NOT NULL,
    actor_kind  text        NOT NULL CHECK (actor_kind IN ('system', 'citizen', 'officer')),
    actor       text        NOT NULL DEFAULT '',
    reason      text        NOT NULL DEFAULT '',
    at          timestamptz NOT NULL
);
CREATE INDEX case_events_match ON case_events (match_id, id);

-- case_history writes a case_events row for every status a cases row takes,
-- so that no writer can change a status without its history. The actor is
-- what the writing transaction set with set_config('policypush.actor_kind')
-- and ('policypush.actor'), else the system; the time is the row's
-- updated_at, which every writer sets to the moment of the change. A new
-- row's previous status is the derived one (matched, notified, opened or
-- lapsed).
-- +goose StatementBegin
CREATE FUNCTION case_history() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    prev text;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.status = OLD.status THEN
            RETURN NULL;
        END IF;
        prev := OLD.status;
    ELSE
        SELECT CASE WHEN m.status = 'lapsed' THEN 'lapsed'
                    WHEN EXISTS (SELECT 1 FROM outbox x WHERE x.match_id = m.id AND x.clicked_at IS NOT NULL) THEN 'opened'
                    WHEN EXISTS (SELECT 1 FROM outbox x WHERE x.match_id = m.id AND x.sent_at IS NOT NULL) THEN 'notified'
                    ELSE 'matched' END
        INTO prev FROM matches m WHERE m.id = NEW.match_id;
    END IF;
    INSERT INTO case_events (match_id, from_status, to_status, actor_kind, actor, reason, at)
    VALUES (NEW.match_id, prev, NEW.status,
            coalesce(nullif(current_setting('policypush.actor_kind', true), ''), 'system'),
            coalesce(current_setting('policypush.actor', true), ''),
            CASE WHEN NEW.status IN ('approved', 'rejected') THEN coalesce(NEW.reason, '')
                 WHEN NEW.status = 'granted' THEN coalesce('event ' || NEW.grant_event_id, '')
                 ELSE '' END,
            NEW.updated_at);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER cases_history AFTER INSERT OR UPDATE OF status ON cases
    FOR EACH ROW EXECUTE FUNCTION case_history();

-- +goose Down
DROP TRIGGER cases_history ON cases;
DROP FUNCTION case_history();
DROP TABLE case_events;
DROP INDEX matches_policy;
DROP INDEX cases_granted;
DROP INDEX cases_decided;
ALTER TABLE cases DROP COLUMN decided_at, DROP COLUMN decided_by, DROP COLUMN reason, DROP COLUMN granted_at,
    DROP COLUMN granted_on, DROP COLUMN granted_amount, DROP COLUMN grant_event_id;
