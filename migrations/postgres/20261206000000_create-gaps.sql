-- Stable gap identity: a gap found again in a later run (its production centroid
-- within cosine 0.9 of a known one) keeps its id and label, so alerts and
-- proposals do not flap between runs; or, the region cut differently, when half the
-- smaller one's members are shared. centroid holds dim little-endian f32 values;
-- members the external ids of the production traces of its last sighting (JSON array).
CREATE TABLE gaps (
    job          TEXT    NOT NULL,
    id           BIGINT  NOT NULL,
    label        TEXT    NOT NULL,
    dim          BIGINT  NOT NULL,
    members      TEXT    NOT NULL,
    centroid     BYTEA   NOT NULL,
    first_run_id BIGINT  NOT NULL,
    last_run_id  BIGINT  NOT NULL,
    PRIMARY KEY (job, id)
);
