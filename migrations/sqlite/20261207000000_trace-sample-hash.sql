-- A per-trace sampling hash (the first 8 bytes of BLAKE3(source 0x1f external_id),
-- as a signed integer), written at ingest, so a run draws its sample inside the
-- database: ORDER BY (sample_hash XOR seed mask) LIMIT k. Rows stored before this
-- migration are filled in by the binary when it opens the store (SQL has no BLAKE3);
-- the partial index finds them, and is empty once they are done.
ALTER TABLE traces ADD COLUMN sample_hash INTEGER;
DROP INDEX traces_ts;
-- Covering for the sample query (rowid is the id): the scan reads no trace texts.
CREATE INDEX traces_ts ON traces (ts_ms, sample_hash);
CREATE INDEX traces_unhashed ON traces (id) WHERE sample_hash IS NULL;
