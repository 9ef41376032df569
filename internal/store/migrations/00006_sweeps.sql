-- +goose Up

-- A sweep re-evaluates every stored profile of one subject type against
-- some policies: a backfill when policies become active (new, a new
-- version, valid_from reached), or a time-driven sweep of the policies
-- whose results change with time alone. Its work is cut into chunks of
-- subject ids; a worker processes a chunk in one transaction that holds
-- the chunk's row lock (so no other worker takes it, and a crash gives it
-- back) and marks it done, so that a chunk is done exactly once.
CREATE TABLE sweeps (
    id           bigserial   PRIMARY KEY,
    kind         text        NOT NULL CHECK (kind IN ('backfill', 'time')),
    subject_type text        NOT NULL,
    policies     jsonb       NOT NULL, -- {"policy-id": version}
    reason       text        NOT NULL,
    status       text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done')),
    total_chunks integer     NOT NULL,
    done_chunks  integer     NOT NULL DEFAULT 0,
    profiles     bigint      NOT NULL DEFAULT 0,
    matched      bigint      NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX sweeps_running ON sweeps (id) WHERE status = 'running';

-- Chunk seq covers the subject ids in (lo, hi]; hi NULL is unbounded.
CREATE TABLE sweep_chunks (
    sweep_id bigint      NOT NULL REFERENCES sweeps (id),
    seq      integer     NOT NULL,
    lo       text        NOT NULL,
    hi       text,
    done_at  timestamptz,
    PRIMARY KEY (sweep_id, seq)
);
CREATE INDEX sweep_chunks_todo ON sweep_chunks (sweep_id, seq) WHERE done_at IS NULL;

-- A mark records that a policy has been swept once, whichever replica
-- planned it: backfill:<policy>@<version>, time:<period>:<policy>@<version>.
CREATE TABLE sweep_marks (
    mark     text        PRIMARY KEY,
    sweep_id bigint      REFERENCES sweeps (id),
    at       timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE sweep_marks;
DROP TABLE sweep_chunks;
DROP TABLE sweeps;
