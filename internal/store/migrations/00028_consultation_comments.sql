-- +goose Up
-- consultation_comments are the public's comments on a draft out for
-- comment (决策预公开, CONTRACTS §9). A comment is pending until an officer
-- makes it visible or hides it; only visible text is ever published, and
-- after the window the page shows the count and the adopted ones.
-- Nothing about the commenter but the name they chose to give is kept:
-- the client's address is used for the rate limit in memory and never
-- written here, neither in clear nor hashed (an IPv4 hash is reversed by
-- trying the 2^32 addresses).
CREATE TABLE consultation_comments (
    id             bigserial   PRIMARY KEY,
    policy_id      text        NOT NULL,
    policy_version integer     NOT NULL,
    created_at     timestamptz NOT NULL,
    name           text        NOT NULL DEFAULT '' CHECK (char_length(name) <= 40),
    body           text        NOT NULL CHECK (char_length(body) BETWEEN 1 AND 2000),
    status         text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'visible', 'hidden')),
    adopted        boolean     NOT NULL DEFAULT false,
    reply          text        NOT NULL DEFAULT '' CHECK (char_length(reply) <= 2000),
    moderated_by   text,
    moderated_at   timestamptz
);
CREATE INDEX consultation_comments_policy ON consultation_comments (policy_id, id);

-- +goose Down
DROP TABLE consultation_comments;
