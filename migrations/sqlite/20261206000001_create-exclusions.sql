-- Topic exclusions: the data team decided a topic (a gap, or single proposals) is
-- out of scope or covered elsewhere. Later runs propose nothing inside it and do
-- not alert on its gap as new. exemplars holds the topic's production inputs
-- (JSON array); a run embeds them (cached) and calls a production input inside
-- the topic when its cosine to an exemplar reaches the job's
-- exclusion_similarity. Lifting keeps the row (lifted_* set) for the record.
CREATE TABLE topic_exclusions (
    id            INTEGER PRIMARY KEY,
    job           TEXT    NOT NULL,
    golden_set    TEXT    NOT NULL,
    gap_id        INTEGER,
    label         TEXT    NOT NULL,
    scope         TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    exemplars     TEXT    NOT NULL,
    created_by    TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    lifted_by     TEXT,
    lifted_at_ms  INTEGER
);
CREATE INDEX topic_exclusions_job ON topic_exclusions (job);

-- A decision can be undone: the proposal is pending again (an accepted one's
-- golden example archived in a new version), and who reopened it is kept.
ALTER TABLE proposals ADD COLUMN reopened_by TEXT;
ALTER TABLE proposals ADD COLUMN reopened_at_ms INTEGER;

-- Proposals a reviewer skipped ("not now"): listed after the others for that
-- reviewer. Kept in the store so every replica behind a balancer agrees.
CREATE TABLE proposal_skips (
    proposal_id   INTEGER NOT NULL,
    reviewer      TEXT    NOT NULL,
    skipped_at_ms INTEGER NOT NULL,
    PRIMARY KEY (proposal_id, reviewer)
);

-- LLM-ensemble pre-labels: every model's answer to a proposal (or why it gave
-- none), with its token usage; the daily cap counts these rows.
CREATE TABLE proposal_labels (
    id                INTEGER PRIMARY KEY,
    proposal_id       INTEGER NOT NULL,
    model             TEXT    NOT NULL,
    output            TEXT,
    error             TEXT,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    latency_ms        INTEGER,
    created_at_ms     INTEGER NOT NULL
);
CREATE INDEX proposal_labels_proposal ON proposal_labels (proposal_id);
CREATE INDEX proposal_labels_created ON proposal_labels (created_at_ms);
-- The ensemble's conclusion on a proposal: 'agrees' (with the agreed output and
-- the share of models that gave it) or 'disagrees'.
ALTER TABLE proposals ADD COLUMN ensemble_status TEXT;
ALTER TABLE proposals ADD COLUMN ensemble_output TEXT;
ALTER TABLE proposals ADD COLUMN ensemble_share REAL;

-- The answers stage's LLM judge: one verdict per (model, input, expected,
-- actual), keyed by their hash, so a pair is judged once however many runs
-- see it. correct is 0 or 1.
CREATE TABLE judge_verdicts (
    key           TEXT    PRIMARY KEY,
    model         TEXT    NOT NULL,
    correct       INTEGER NOT NULL,
    reason        TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
);
