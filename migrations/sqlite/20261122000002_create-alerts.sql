-- Alerting: alert states and their status changes, silences, the notification outbox
-- with its delivery attempts, and the last notification per (receiver, group).
-- Timestamps are epoch milliseconds; JSON columns hold serde_json text.

-- One row per alert (rule x job x metric x side x severity x rule labels).
CREATE TABLE alerts (
    fingerprint   TEXT    PRIMARY KEY,
    job           TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('inactive', 'pending', 'firing', 'resolved')),
    labels        TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX alerts_job ON alerts (job);

-- Every status change of an alert, with the run that caused it.
CREATE TABLE alert_transitions (
    id          INTEGER PRIMARY KEY,
    fingerprint TEXT    NOT NULL,
    run_id      INTEGER NOT NULL,
    from_status TEXT    NOT NULL,
    to_status   TEXT    NOT NULL,
    at_ms       INTEGER NOT NULL
);
CREATE INDEX alert_transitions_fingerprint ON alert_transitions (fingerprint, id);

CREATE TABLE silences (
    id            INTEGER PRIMARY KEY,
    matchers      TEXT    NOT NULL,
    starts_at_ms  INTEGER NOT NULL,
    ends_at_ms    INTEGER NOT NULL,
    created_by    TEXT    NOT NULL,
    comment       TEXT    NOT NULL,
    expired       INTEGER NOT NULL DEFAULT 0,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX silences_ends ON silences (expired, ends_at_ms);

-- Notifications to deliver. A row is claimed by setting status = 'delivering' and
-- claimed_until_ms; a claim that expired (the sender died) can be claimed again.
CREATE TABLE outbox (
    id                 INTEGER PRIMARY KEY,
    idempotency_key    TEXT    NOT NULL UNIQUE,
    receiver           TEXT    NOT NULL,
    notification       TEXT    NOT NULL,
    reason             TEXT    NOT NULL,
    status             TEXT    NOT NULL CHECK (status IN ('pending', 'delivering', 'delivered', 'dead')),
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms INTEGER NOT NULL,
    last_error         TEXT,
    created_at_ms      INTEGER NOT NULL,
    delivered_at_ms    INTEGER,
    claimed_until_ms   INTEGER
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at_ms);

-- What was last enqueued for each (receiver, group): the input of notification dedup.
CREATE TABLE sent_records (
    receiver      TEXT    NOT NULL,
    group_key     TEXT    NOT NULL,
    record        TEXT    NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (receiver, group_key)
);

CREATE TABLE delivery_attempts (
    id        INTEGER PRIMARY KEY,
    outbox_id INTEGER NOT NULL REFERENCES outbox (id),
    at_ms     INTEGER NOT NULL,
    ok        INTEGER NOT NULL,
    error     TEXT
);
CREATE INDEX delivery_attempts_outbox ON delivery_attempts (outbox_id, id);
