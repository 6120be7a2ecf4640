-- The daemon's coordination and source state.
--
-- leases: one row per scheduled job ("job:NAME") or polled source ("source:NAME").
-- A replica may run the job's tick `fire_at_ms` only after it won the row:
-- the lease is free (expired) and the tick is newer than the last one claimed,
-- so each tick runs once across replicas and a crashed holder's lease expires.
CREATE TABLE leases (
    name          TEXT    PRIMARY KEY,
    holder        TEXT    NOT NULL,
    fire_at_ms    BIGINT  NOT NULL,
    expires_at_ms BIGINT  NOT NULL,
    updated_at_ms BIGINT  NOT NULL
);

-- source_state: where each external source has read up to. `key` is '' for a
-- sql source (the watermark) and the file identity for each file of a jsonl
-- source (byte offset, line number); `state` is JSON.
CREATE TABLE source_state (
    source        TEXT    NOT NULL,
    key           TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    updated_at_ms BIGINT  NOT NULL,
    PRIMARY KEY (source, key)
);

-- runs.holder: which daemon process ran it (NULL for CLI runs), so a replica
-- taking over an expired lease can mark the crashed holder's run aborted.
ALTER TABLE runs ADD COLUMN holder TEXT;
