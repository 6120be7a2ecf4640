-- Embedding cache: every text is embedded at most once per model.
-- vector holds dim little-endian f32 values.
CREATE TABLE embeddings (
    content_hash  TEXT    NOT NULL,
    model_id      TEXT    NOT NULL,
    dim           BIGINT  NOT NULL,
    vector        BYTEA   NOT NULL,
    created_at_ms BIGINT  NOT NULL,
    PRIMARY KEY (content_hash, model_id)
);
