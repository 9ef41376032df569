-- +goose Up

-- callback_nonces remembers the (timestamp, nonce) of every WeChat callback
-- accepted within the freshness window, so that a captured request, whose
-- signature covers only the token, timestamp and nonce, cannot be replayed
-- on any replica. Rows older than the window are deleted: the window alone
-- refuses those requests.
CREATE TABLE callback_nonces (
    ts    bigint NOT NULL, -- the callback's timestamp, Unix seconds as WeChat sent it
    nonce text   NOT NULL,
    PRIMARY KEY (ts, nonce)
);

-- +goose Down
DROP TABLE callback_nonces;
