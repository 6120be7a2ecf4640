-- Embedding cache: every text is embedded at most once per model.
-- vector holds dim little-endian f32 values.
CREATE TABLE embeddings (
    content_hash  TEXT    NOT NULL,
    model_id      TEXT    NOT NULL,
    dim           INTEGER NOT NULL,
    vector        BLOB    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (content_hash, model_id)
);
