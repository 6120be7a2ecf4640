-- Core tables: traces, golden set with versions, analysis runs.
-- Timestamps are epoch milliseconds (INTEGER) so both backends compare them the same way.
CREATE TABLE traces (
    id                INTEGER PRIMARY KEY,
    source            TEXT    NOT NULL,
    external_id       TEXT    NOT NULL,
    ts_ms             INTEGER NOT NULL,
    input             TEXT    NOT NULL,
    output            TEXT    NOT NULL,
    model             TEXT,
    latency_ms        REAL,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    cost              REAL,
    is_error          INTEGER,
    feedback          REAL,
    metadata          TEXT,
    input_hash        TEXT    NOT NULL,
    output_hash       TEXT    NOT NULL,
    ingested_at_ms    INTEGER NOT NULL,
    UNIQUE (source, external_id)
);
CREATE INDEX traces_ts ON traces (ts_ms);

CREATE TABLE golden_versions (
    id            INTEGER PRIMARY KEY,
    set_name      TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    change        TEXT    NOT NULL,
    added         INTEGER NOT NULL,
    archived      INTEGER NOT NULL,
    active_count  INTEGER NOT NULL,
    UNIQUE (set_name, version)
);

CREATE TABLE golden_examples (
    id               INTEGER PRIMARY KEY,
    set_name         TEXT    NOT NULL,
    input            TEXT    NOT NULL,
    expected_output  TEXT    NOT NULL,
    tags             TEXT    NOT NULL DEFAULT '[]',
    provenance       TEXT    NOT NULL,
    proposal_id      INTEGER,
    version_added    INTEGER NOT NULL,
    archived         INTEGER NOT NULL DEFAULT 0,
    version_archived INTEGER,
    input_hash       TEXT    NOT NULL,
    created_at_ms    INTEGER NOT NULL
);
CREATE INDEX golden_examples_set ON golden_examples (set_name, archived);

CREATE TABLE runs (
    id             INTEGER PRIMARY KEY,
    job            TEXT    NOT NULL,
    started_at_ms  INTEGER NOT NULL,
    finished_at_ms INTEGER,
    status         TEXT    NOT NULL,
    summary        TEXT,
    error          TEXT
);
CREATE INDEX runs_job ON runs (job, started_at_ms);
