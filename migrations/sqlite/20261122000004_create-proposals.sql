-- Proposed golden examples: representative production traces from uncovered
-- clusters (and spot checks), reviewed by the data team.
CREATE TABLE proposals (
    id                INTEGER PRIMARY KEY,
    run_id            INTEGER NOT NULL REFERENCES runs (id),
    job               TEXT    NOT NULL,
    golden_set        TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    cluster_id        INTEGER,
    cluster_label     TEXT,
    trace_id          INTEGER NOT NULL,
    external_id       TEXT    NOT NULL,
    input             TEXT    NOT NULL,
    output            TEXT    NOT NULL,
    input_hash        TEXT    NOT NULL,
    nearest_golden_id INTEGER,
    nearest_golden_similarity REAL,
    status            TEXT    NOT NULL DEFAULT 'pending',
    expected_output   TEXT,
    reason            TEXT,
    decided_by        TEXT,
    decided_at_ms     INTEGER,
    golden_example_id INTEGER,
    created_at_ms     INTEGER NOT NULL
);
CREATE INDEX proposals_status ON proposals (status, job);
